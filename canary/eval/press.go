package eval

import (
	"math/rand/v2"
	"strings"
	"unicode"
)

// The press article: a journalist retypes the leak and quotes it, in
// pieces of one to three sentences, inside reporting of the paper's own,
// in the paper's house typography: curly quotes around each quotation,
// curly apostrophes, em dashes for every dash, an ellipsis character, in
// the quotations and in the paper's own sentences alike. Nothing here is
// taken from the corpus; the paper's prose is neutral, so the only words
// the tracer can align are the quoted ones.

var pressHeadlines = []string{
	"Leaked messages show how close the talks came to collapse",
	"Inside the negotiation: what the delegations told each other",
	"Transcript reveals the terms discussed behind closed doors",
}

var pressBylines = []string{
	"By our diplomatic correspondent",
	"From our staff reporter",
	"By a special correspondent",
}

// Each speaker is a description a paper uses when it cannot name someone.
var pressSpeakers = []string{
	"one participant", "a senior negotiator", "the head of one delegation",
	"an adviser to the talks", "a member of the drafting team", "one of the officials",
}

// Reporting sentences with the house style already applied. {S} is a
// speaker.
var pressReports = []string{
	"The messages, which this newspaper has seen, were exchanged over several weeks.",
	"Neither side’s press office would confirm that the text was genuine.",
	"Two people familiar with the talks—neither authorised to speak publicly—said the wording matched their recollection.",
	"The ministry said it did not comment on “leaked material.”",
	"At that point the discussion turned to the timetable.",
	"It is not clear who else was copied on the exchange.",
	"The passage is one of several that deal with the sequence of concessions.",
	"Officials later played down the significance of the remarks.",
	"The tone of the exchange hardened as the deadline approached.",
	"Diplomats who have read the full text describe it as candid—at times blunt.",
	"Much of what follows concerns procedure rather than substance.",
	"The paper has chosen not to publish the names of junior staff.",
	"A spokesperson for the delegation declined to say whether the offer still stood.",
	"The remarks came a day after the previous round ended without agreement.",
	"Those involved say the messages give an accurate picture of the mood at the table.",
	"Some of the language is technical; the thrust of it is not.",
	"The text runs to many pages, and only parts of it are reproduced here.",
	"What happened next is disputed.",
}

// Lead-ins for a quotation.
var pressLeadIns = []string{
	"In one message, {S} wrote:",
	"According to the transcript, {S} went on:",
	"Later in the exchange, {S} added:",
	"The reply from {S} was direct:",
	"{S} put it this way:",
	"In a longer note, {S} set out the position:",
	"The transcript records {S} as saying:",
}

// Sentences after a quotation.
var pressFollows = []string{
	"That view, {S} later said, was shared by others in the room.",
	"The message drew no immediate reply.",
	"Others at the table appear to have agreed.",
	"The point was not taken up again until the following week.",
	"{S} did not respond to a request for comment.",
	"It was, by several accounts, the turning point of the round.",
}

// pressArticle quotes quoted (a retyped leak) in pieces inside a news
// article and returns the article.
func pressArticle(rng *rand.Rand, quoted string) string {
	pick := func(list []string) string {
		s := list[rng.IntN(len(list))]
		return strings.ReplaceAll(s, "{S}", pressSpeakers[rng.IntN(len(pressSpeakers))])
	}
	var paras []string
	paras = append(paras, pick(pressHeadlines), pick(pressBylines), pick(pressReports)+" "+pick(pressReports))
	sents := sentences(quoted)
	for i := 0; i < len(sents); {
		n := min(1+rng.IntN(3), len(sents)-i)
		q := "\u201C" + houseStyle(strings.Join(sents[i:i+n], " ")) + "\u201D"
		i += n
		var p string
		switch rng.IntN(4) {
		case 0:
			p = capitalise(pick(pressLeadIns)) + " " + q
		case 1:
			p = q + " " + capitalise(pick(pressFollows))
		case 2:
			p = pick(pressReports) + " " + capitalise(pick(pressLeadIns)) + " " + q
		default:
			p = q
		}
		paras = append(paras, p)
		if rng.IntN(3) == 0 {
			paras = append(paras, pick(pressReports))
		}
	}
	paras = append(paras, pick(pressReports))
	return strings.Join(paras, "\n\n")
}

func capitalise(s string) string {
	r := []rune(s)
	if len(r) > 0 {
		r[0] = unicode.ToUpper(r[0])
	}
	return string(r)
}

// sentences splits text at sentence ends (., ? or ! ending a word,
// possibly before a closing quote or bracket) and at paragraph breaks.
func sentences(text string) []string {
	var out []string
	for _, para := range strings.Split(text, "\n\n") {
		f := strings.Fields(para)
		last := 0
		for i, w := range f {
			end := strings.TrimRight(w, "\"')]")
			if strings.HasSuffix(end, ".") || strings.HasSuffix(end, "?") || strings.HasSuffix(end, "!") || i == len(f)-1 {
				out = append(out, strings.Join(f[last:i+1], " "))
				last = i + 1
			}
		}
	}
	return out
}

// houseStyle sets a quotation in the paper's typography: apostrophes
// curly, the quotation's own double quotes as curly single quotes (it sits
// inside double ones), every dash an em dash, three dots an ellipsis.
func houseStyle(s string) string {
	s = strings.ReplaceAll(s, "...", "\u2026")
	s = strings.ReplaceAll(s, "--", "\u2014")
	s = strings.ReplaceAll(s, " - ", " \u2014 ")
	var b strings.Builder
	rs := []rune(s)
	open := false
	for i, r := range rs {
		prev := ' '
		if i > 0 {
			prev = rs[i-1]
		}
		switch r {
		case '\'':
			if unicode.IsLetter(prev) || unicode.IsDigit(prev) || prev == '.' || prev == ',' {
				b.WriteRune('\u2019')
			} else {
				b.WriteRune('\u2018')
			}
		case '"':
			if !open {
				b.WriteRune('\u2018')
			} else {
				b.WriteRune('\u2019')
			}
			open = !open
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
