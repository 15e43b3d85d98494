package leak

import (
	"fmt"
	"testing"
	"time"
)

func TestScratch(t *testing.T) {
	t0 := time.Date(2026, 3, 14, 14, 0, 0, 0, time.UTC)
	msgs := []Message{
		{"m1", "envoy", t0, "We will not sign the agreement before Friday, unless the troops withdraw."},
		{"m2", "aide", t0.Add(2 * time.Minute), "Understood. I'll tell them 10 battalions must leave first."},
		{"m3", "envoy", t0.Add(3 * time.Minute), "Thank you."},
		{"m4", "aide", t0.Add(5 * time.Minute), "The President doesn't want a public statement yet; he prefers to wait until the summit."},
	}
	leak := "ENVOY: We will sign the agreement before Friday, unless the troops withdraw.\n\nAIDE: Understood. I will tell them ten battalions must\nleave first.\n\nAIDE: Thank you.\n\n[14:05] AIDE: The President does not want a public statement yet…\n\nENVOY: We have already agreed to give them the airport.\n\nThe envoy said “he prefers to wait until the summit” and added that “the troops withdraw”.\nAIDE: Understood. I'll tell them 10 battalions must leave first. Thank you.\nAIDE: We will not sign the agreement before Friday. He prefers to wait until the summit.\n"
	r, err := Verify(msgs, []byte(leak), Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := r.JSON()
	fmt.Println(string(b))
}
