package doctor
import ("testing";"fmt";"strings";"backchannel/transcript/leak")
func TestScratch3(t *testing.T){
 dir, _ := DefaultCorpus()
 ts, _ := LoadCorpus(dir, 1)
 for _, tr := range ts[:4] {
  for _, m := range tr.Messages { if strings.Contains(m.Text, "Relevancy") || strings.Contains(m.Text,"June 11, 1980") || strings.HasPrefix(m.Text, "Under the Bretton") || strings.Contains(m.Text, "Gibson") { fmt.Printf("%s %s: %.300s\n", m.ID, m.Sender, m.Text) } }
 }
 tr := ts[3]
 var src string
 for _, m := range tr.Messages { if strings.HasPrefix(m.Text, "Under the Bretton") { src = m.Text } }
 ix := leak.NewIndex(tr.Messages, leak.Options{})
 rep, _ := ix.Verify([]byte(wrap(src, 70)))
 for _, r := range rep.Lines { fmt.Printf("  -> %d %s %s %.300s\n", r.Line, r.Verdict, r.MessageID, r.Diff) }
 tr = ts[1]
 ix = leak.NewIndex(tr.Messages, leak.Options{})
 rep, _ = ix.Verify([]byte("“Gibson's views and felt that the same considerations applied to Warsaw,” Mr. Trask said.\n\nAccording to the transcript, ENVOY said: “June 11, 1980”\n"))
 for _, r := range rep.Lines { fmt.Printf("  -> %d %s %s %s %.300s\n", r.Line, r.Text, r.Verdict, r.MessageID, r.Diff) }
 c, _ := leak.ParseLeak([]byte("“Gibson's views and felt that the same considerations applied to Warsaw,” Mr. Trask said.\n\nAccording to the transcript, ENVOY said: “June 11, 1980”\n"))
 fmt.Printf("%+v\n", c)
}
