package doctor
import ("testing";"fmt")
func TestScratchRun(t *testing.T){
 dir, ok := DefaultCorpus(); if !ok { t.Fatal("no corpus") }
 r, err := Run(Config{CorpusDir: dir, Leaks: 10})
 if err != nil { t.Fatal(err) }
 fmt.Println(r.Markdown())
 for i, m := range r.Misses { if i < 40 { fmt.Printf("%s | %s exp=%s got=%s\n   LEAK: %.200s\n   DIFF: %.300s\n", m.Transcript, m.Edit, m.Expected, m.Got, m.Leaked, m.Diff) } }
}
