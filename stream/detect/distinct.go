package detect

import (
	"math"
	"math/bits"
	"slices"
)

// hllBits is the HyperLogLog precision: 2^10 one-byte registers (1 KiB),
// a standard error of 1.04/sqrt(1024), about 3.25%.
const hllBits = 10

const hllRegisters = 1 << hllBits

// distinct counts distinct 64-bit hashes: exactly up to a cap, then with a
// HyperLogLog sketch of fixed size. Only keys that pass the cap (scanners,
// in practice) pay for the sketch.
type distinct struct {
	exact  []uint64
	sketch *hll
}

// add records h and returns the (estimated) number of distinct values.
func (d *distinct) add(h uint64, exactCap int) uint64 {
	if d.sketch != nil {
		d.sketch.add(h)
		return d.sketch.estimate()
	}
	if slices.Contains(d.exact, h) {
		return uint64(len(d.exact))
	}
	if len(d.exact) < exactCap {
		d.exact = append(d.exact, h)
		return uint64(len(d.exact))
	}
	d.sketch = newHLL()
	for _, v := range d.exact {
		d.sketch.add(v)
	}
	d.sketch.add(h)
	d.exact = nil
	// Never report less than the exact count already seen.
	return max(d.sketch.estimate(), uint64(exactCap)+1)
}

// reset empties the counter for a new window, keeping its exact storage.
func (d *distinct) reset() {
	d.exact = d.exact[:0]
	d.sketch = nil
}

// hll is a HyperLogLog sketch: its registers, and the harmonic sum and
// zero count over them kept up to date, so that an estimate after every
// add costs no pass over the registers.
type hll struct {
	reg   [hllRegisters]uint8
	sum   float64 // Σ 2^-reg
	zeros int
}

func newHLL() *hll { return &hll{sum: hllRegisters, zeros: hllRegisters} }

func (s *hll) add(h uint64) {
	i := h >> (64 - hllBits)
	rank := uint8(bits.LeadingZeros64(h<<hllBits|1<<(hllBits-1))) + 1
	if old := s.reg[i]; rank > old {
		if old == 0 {
			s.zeros--
		}
		s.sum += math.Ldexp(1, -int(rank)) - math.Ldexp(1, -int(old))
		s.reg[i] = rank
	}
}

// estimate is HyperLogLog's raw estimate with the small-range (linear
// counting) correction; the large-range correction is moot with 64-bit
// hashes.
func (s *hll) estimate() uint64 {
	const m = float64(hllRegisters)
	e := 0.7213 / (1 + 1.079/m) * m * m / s.sum
	if e <= 2.5*m && s.zeros > 0 {
		e = m * math.Log(m/float64(s.zeros))
	}
	return uint64(e + 0.5)
}

// mix64 is MurmurHash3's 64-bit finaliser: it spreads port numbers and
// address halves over the whole word, as the sketch needs.
func mix64(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}
