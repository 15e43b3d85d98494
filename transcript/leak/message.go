package leak

import "time"

// Message is one real message of the room, as the verifier sees it.
type Message struct {
	ID     string    `json:"id"`
	Sender string    `json:"sender"`
	SentAt time.Time `json:"sent_at"`
	Text   string    `json:"text"`
}
