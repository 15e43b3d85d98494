package ratchet

import "crypto/mlkem"

// mlkemQ is ML-KEM's modulus q (FIPS 203).
const mlkemQ = 3329

// validKEMKey is the input check FIPS 203 (section 7.2) asks of an
// ML-KEM-768 encapsulation key before use: the right length, and every
// 12-bit coefficient of its encoded vector below q (ByteEncode12 of
// ByteDecode12 gives the same bytes). It is what mlkem.NewEncapsulationKey768
// checks, without expanding the key's matrix, so a received key can be
// refused at once and parsed only when a KEM step encapsulates to it.
// TestValidKEMKey compares the two.
func validKEMKey(ek []byte) bool {
	if len(ek) != mlkem.EncapsulationKeySize768 {
		return false
	}
	vec := ek[:len(ek)-32] // the last 32 bytes are the matrix seed rho
	for i := 0; i+3 <= len(vec); i += 3 {
		d1 := uint16(vec[i]) | uint16(vec[i+1]&0x0f)<<8
		d2 := uint16(vec[i+1])>>4 | uint16(vec[i+2])<<4
		if d1 >= mlkemQ || d2 >= mlkemQ {
			return false
		}
	}
	return true
}
