package doctor
import ("testing";"fmt";"math/rand";"strings";"backchannel/transcript/leak")
func TestScratchOne(t *testing.T){
 dir, _ := DefaultCorpus()
 ts, _ := LoadCorpus(dir, 1)
 for ti, tr := range ts {
 g := &Generator{T: tr, Foreign: foreignSentences(ts, ti)}
 rng := rand.New(rand.NewSource(1*1000+int64(ti)))
 ix := leak.NewIndex(tr.Messages, leak.Options{})
 shown := 0
 for k := 0; k < 10; k++ {
  l := g.Generate(rng)
  rep, _ := ix.Verify([]byte(l.Text))
  for _, it := range l.Items {
    got, _ := predicted(it, rep.Lines)
    if got != it.Edit.Expected() && shown < 2 {
      shown++
      fmt.Printf("==== %s STYLE %+v edit=%s got=%s\n", tr.Name, l.Style, it.Edit, got)
      lines := strings.Split(l.Text, "\n")
      fmt.Println(strings.Join(lines[max(0,it.FirstLine-3):min(len(lines), it.LastLine+1)], "\n"))
      for _, r := range rep.Lines { if r.Line >= it.FirstLine-2 && r.Line <= it.LastLine { fmt.Printf("  -> %d %s %s %.200s\n", r.Line, r.Verdict, r.MessageID, r.Diff) } }
    }
  }
 }
 }
}
