package main

// examples are the Example sections of the commands that do not set their
// own, by command path without the program's name. Every runnable command
// has one (TestEveryCommandHasAnExample walks the tree).
var examples = map[string]string{
	"": `  backchannel demo
  backchannel init --server https://bc.example.org --name alice --invite bci_...
  backchannel --version`,
	"agent": `  backchannel agent
  backchannel agent --idle 2h`,
	"serve": `  backchannel serve --data ./srv
  backchannel serve --addr :443 --data /srv/backchannel --tls-cert cert.pem --tls-key key.pem`,
	"serve invite": `  backchannel serve invite --data ./srv --name bob
  backchannel serve invite --data ./srv --name bob --ttl 48h --json`,
	"demo": `  backchannel demo`,
	"room": `  backchannel room create talks --members bob,carol
  backchannel room list`,
	"room create": `  backchannel room create talks --members bob,carol
  backchannel room create side-channel --members bob --mode deniable --marking off`,
	"room list": `  backchannel room list
  backchannel room list --json`,
	"room add":    `  backchannel room add talks dave`,
	"room remove": `  backchannel room remove talks dave`,
	"room leave":  `  backchannel room leave talks`,
	"send": `  backchannel send talks "We can move on the second clause."
  backchannel send talks --file statement.txt
  echo "Agreed." | backchannel send talks -
  backchannel send talks --voice statement.wav`,
	"voice": `  backchannel voice save talks 3f9a2c1b
  backchannel voice save talks 3f9a2c1b -o ~/Downloads/ --force`,
	"voice save": `  backchannel voice save talks 3f9a2c1b
  backchannel voice save talks 3f9a2c1b -o statement.flac
  backchannel voice save talks 3f9a2c1b -o - | ffplay -nodisp -`,
	"sync": `  backchannel sync
  backchannel sync --follow`,
	"read": `  backchannel read talks
  backchannel read talks --no-sync --json`,
	"chat": `  backchannel chat talks`,
	"keys": `  backchannel keys verify bob
  backchannel keys accept bob`,
	"keys unverify": `  backchannel keys unverify bob`,
	"devices": `  backchannel devices
  backchannel devices --json`,
	"settings set": `  backchannel settings set require-verified on
  backchannel settings set device-changes auto`,
	"status": `  backchannel status
  backchannel status --json`,
	"verify": `  backchannel verify --room talks leaked.txt
  pbpaste | backchannel verify --room talks -
  backchannel verify --bundle excerpt.json --trust "alice=$(cat alice.fingerprint)"`,
	"transcript": `  backchannel transcript export talks -o excerpt.json`,
	"transcript export": `  backchannel transcript export talks -o excerpt.json
  backchannel transcript export talks --from 2026-11-28T14:00:00Z --to 2026-11-28T15:00:00Z -o afternoon.json
  backchannel transcript export talks --only 3f9a2c1b,77e0d4aa -o two-messages.json`,
	"trace": `  backchannel trace leaked.txt
  backchannel trace --room talks --epsilon 1e-9 leaked.txt
  backchannel trace --room talks leaked-call.ogg
  backchannel trace broadcast.mp3 --json`,
	"eval": `  backchannel eval trace --quick
  backchannel eval audio --quick`,
	"eval audio": `  backchannel eval audio --quick
  backchannel eval audio --trials 100 --json > audio.json`,
	"eval trace": `  backchannel eval trace --quick
  backchannel eval trace --trials 100 --json`,
	"bench": `  backchannel bench --clients 10,100 --idle 0
  backchannel bench --shape=false --clients "" --idle 1000 --json`,
	"witness key": `  backchannel witness key --data /srv/witness --name witness.example.org/w1`,
	"help":        `  backchannel help room create`,
	"docs get": `  backchannel docs get talks draft-2.pdf
  backchannel docs get talks draft-2.pdf -o ~/Downloads/ --force
  backchannel docs get talks 3f9a2c1b -o - | less`,
	"completion": `  backchannel completion bash > /etc/bash_completion.d/backchannel
  backchannel completion zsh > "${fpath[1]}/_backchannel"`,
	"completion bash":       `  source <(backchannel completion bash)`,
	"completion zsh":        `  backchannel completion zsh > "${fpath[1]}/_backchannel"`,
	"completion fish":       `  backchannel completion fish > ~/.config/fish/completions/backchannel.fish`,
	"completion powershell": `  backchannel completion powershell | Out-String | Invoke-Expression`,
}

// longHelp is the Long help of commands that give only a one-line Short.
var longHelp = map[string]string{
	"room": `Rooms are where you talk. A room's mode (on-record: a signed, hash-linked
transcript; deniable: no signatures) and its marking policy (the canary marks in
each member's copy) are fixed when it is created and shown to every member.
Only the creator changes its membership; every change is a signed message that
every member applies in the same order.`,
	"room create": `Create a room with the given members (up to 64, you included). You are its
creator: only you can add or remove members.

--mode on-record (the default) signs every message into a transcript that
'backchannel verify' checks leaked text against; --mode deniable signs nothing,
like Signal. --marking chooses the canary marks each member's copy carries
(all by default; only lexical marks survive retyping). Both are fixed at
creation and shown to every member before the first message.`,
	"room list": `List your rooms: id, name, mode, marking and members (with the ones whose safety
numbers you have not compared marked unverified).`,
	"room add": `Add USER to ROOM (creator only). They see the messages sent from then on,
not the room's history.`,
	"room remove": `Remove USER from ROOM (creator only). They receive nothing sent afterwards;
what they already received stays with them.`,
	"room leave": `Leave ROOM: you receive nothing sent afterwards, and the other members are told.`,
	"send": `Send a message to ROOM: TEXT, the contents of --file PATH, or standard input
(-). Each member receives their own marked copy; in an on-record room the
message is signed into the transcript.`,
	"sync": `Fetch, decrypt and store the messages waiting on the server, and print how many
arrived. --follow stays connected and handles messages as they arrive (Ctrl-C
stops).`,
	"read": `Show ROOM's messages in order, with the room's mode, marking and members first.
It syncs first unless --no-sync.`,
	"status": `Show this profile (user, device), the server and whether it is reachable,
your rooms, messages waiting to be delivered, and anything that needs your
attention (a changed key, a key log alarm). Exit status 1 when the server is
unreachable; what is known locally is printed first.`,
	"settings set": `Change one of this profile's settings; 'backchannel settings --help' lists them
and their values.`,
	"keys verify": `Show the safety number you share with NAME: 12 groups of 5 digits, half from your
account key and half from theirs. Compare all of them with NAME in person or on
a call you trust; if they match, run it again with --confirm to record that NAME
is verified. A changed key shows the old number and the new one.`,
	"devices remove": `Remove device ID (see 'backchannel devices') from your account's signed device
list (primary device only). Your contacts stop encrypting to it at once and see
a notice; a lost or stolen device receives nothing new.`,
	"room archive": `Archive ROOM on this device: it leaves 'room list' (see --all) until someone
else writes in it; you stay a member, it stays readable, and nothing is sent to
the others.`,
	"room unarchive": `Bring an archived ROOM back into 'room list' on this device.`,
	"lock": `Lock the profile: the agent that holds it unlocked stops and forgets it, so the
next command asks for the passphrase again (and starts a new agent).`,
	"keys unverify": `Forget that you compared NAME's safety number: NAME is shown as unverified
again, and with require-verified on, sending to them waits.`,
	"transcript": `Export a room's signed transcript, or part of it, as a file that anyone can check
offline with 'backchannel verify --bundle'.`,
	"eval": `Evaluation harnesses that measure the product's claims on real text and real
speech; their tables are in docs/benchmarks.md.`,
	"eval audio": `Mark a voice note of real read speech for every member, attack each copy (Opus,
MP3, resampling, speed and tempo changes, white and babble noise, a telephone
band, chains), trace 10-30 s excerpts from anywhere and report how often the
leaker is named, the null trials, the mark's segmental SNR and masking margin,
and the embedding speed. Needs ffmpeg, espeak-ng and pocketsphinx-testdata.`,
	"eval trace": `Simulate leaks (pasted, retyped with typos, excerpted, edited, quoted in a press
article, with invisible marks stripped, scrambled or randomised, merged by
colluders, excerpted from a conversation among 5 senders) over real prose and
report how often 'trace' names the right member, the words each form needs,
and how often it accuses an innocent one.`,
	"demo": `Run the whole story on an embedded server on loopback, with no set-up: an
on-record negotiation, a leaked and doctored transcript, verify and trace.`,
	"serve invite": `Print a one-time registration token for the server whose data is in --data.
With --name the token registers only that account name; without it, any name
(development). The directory must hold a server: a mistyped --data is refused,
never created.`,
}
