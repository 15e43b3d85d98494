package prefix

import (
	"math/rand/v2"
	"testing"

	"backchannel/entropy/entropytest"
)

// benchTree is a 100,000-leaf tree, built once per benchmark binary.
func benchTree(b *testing.B) (*Tree, []leafSpec) {
	b.Helper()
	leaves := randomLeaves(rand.New(rand.NewChaCha8([32]byte{9})), 100_000)
	return build(leaves), leaves
}

func BenchmarkSet(b *testing.B) {
	tr, _ := benchTree(b)
	fresh := randomLeaves(rand.New(rand.NewChaCha8([32]byte{10})), 1024)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		l := fresh[i%len(fresh)]
		_ = tr.Set(l.index, l.updates, l.commitment) // into the same 100,000-leaf version each time
	}
}

func BenchmarkProve(b *testing.B) {
	tr, leaves := benchTree(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, ok := tr.Prove(leaves[i%len(leaves)].index); !ok {
			b.Fatal("no proof")
		}
	}
}

func BenchmarkVerifyInclusion(b *testing.B) {
	tr, leaves := benchTree(b)
	l := leaves[42]
	sib, _ := tr.Prove(l.index)
	root := tr.Root()
	b.ReportAllocs()
	b.ResetTimer()
	b.ReportMetric(float64(len(sib)), "depth")
	for i := 0; i < b.N; i++ {
		if err := VerifyInclusion(root, l.index, l.updates, l.commitment, sib); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVRFProve(b *testing.B) {
	k, _ := NewVRFKeyFrom(entropytest.New("bench"))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		k.Prove("alice")
	}
}

func BenchmarkVRFVerify(b *testing.B) {
	k, _ := NewVRFKeyFrom(entropytest.New("bench"))
	_, pi := k.Prove("alice")
	pub := k.Public()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := VerifyVRF(pub, "alice", pi); err != nil {
			b.Fatal(err)
		}
	}
}
