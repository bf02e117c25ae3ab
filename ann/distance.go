package ann

//go:generate sh -c "cd _asm && go run . -out ../gen_distance_amd64.s -stubs ../gen_distance_amd64.go -pkg ann"

// dot, l2sq and dotU8 use the generated AVX2+FMA kernels (see _asm/gen.go)
// for the first len(a)&^7 values when the CPU has them, and the Go
// reference loops below (dotGo, l2sqGo, dotU8Go, the specification) for
// the rest and on other CPUs or with the noasm or purego build tags.

// dot returns Σ a[j]·b[j] over len(a) values; len(b) must be >= len(a).
func dot(a, b []float32) float32 {
	if useAVX2 && len(a) >= 8 {
		b = b[:len(a)]
		n := len(a) &^ 7
		s := dotAVX2(&a[0], &b[0], n)
		if n < len(a) {
			s += dotGo(a[n:], b[n:])
		}
		return s
	}
	return dotGo(a, b)
}

// l2sq returns Σ (a[j]-b[j])² over len(a) values.
func l2sq(a, b []float32) float32 {
	if useAVX2 && len(a) >= 8 {
		b = b[:len(a)]
		n := len(a) &^ 7
		s := l2AVX2(&a[0], &b[0], n)
		if n < len(a) {
			s += l2sqGo(a[n:], b[n:])
		}
		return s
	}
	return l2sqGo(a, b)
}

// dotU8 returns Σ a[j]·c[j] for uint8 codes c; len(c) must be >= len(a).
func dotU8(a []float32, c []byte) float32 {
	if useAVX2 && len(a) >= 8 {
		c = c[:len(a)]
		n := len(a) &^ 7
		s := dotU8AVX2(&a[0], &c[0], n)
		if n < len(a) {
			s += dotU8Go(a[n:], c[n:])
		}
		return s
	}
	return dotU8Go(a, c)
}

// The reference loops are pure Go, unrolled by 8 with independent
// accumulators so the compiler keeps them in registers and the CPU can
// overlap the multiplies; the reslicing up front removes bounds checks.

// dotGo is the reference of dot.
func dotGo(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+8 <= len(a); i += 8 {
		aa := a[i : i+8 : i+8]
		bb := b[i : i+8 : i+8]
		s0 += aa[0]*bb[0] + aa[4]*bb[4]
		s1 += aa[1]*bb[1] + aa[5]*bb[5]
		s2 += aa[2]*bb[2] + aa[6]*bb[6]
		s3 += aa[3]*bb[3] + aa[7]*bb[7]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// l2sqGo is the reference of l2sq.
func l2sqGo(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+8 <= len(a); i += 8 {
		aa := a[i : i+8 : i+8]
		bb := b[i : i+8 : i+8]
		d0, d1, d2, d3 := aa[0]-bb[0], aa[1]-bb[1], aa[2]-bb[2], aa[3]-bb[3]
		d4, d5, d6, d7 := aa[4]-bb[4], aa[5]-bb[5], aa[6]-bb[6], aa[7]-bb[7]
		s0 += d0*d0 + d4*d4
		s1 += d1*d1 + d5*d5
		s2 += d2*d2 + d6*d6
		s3 += d3*d3 + d7*d7
	}
	for ; i < len(a); i++ {
		d := a[i] - b[i]
		s0 += d * d
	}
	return (s0 + s1) + (s2 + s3)
}

// dotU8Go is the reference of dotU8.
func dotU8Go(a []float32, c []byte) float32 {
	c = c[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+8 <= len(a); i += 8 {
		aa := a[i : i+8 : i+8]
		cc := c[i : i+8 : i+8]
		s0 += aa[0]*float32(cc[0]) + aa[4]*float32(cc[4])
		s1 += aa[1]*float32(cc[1]) + aa[5]*float32(cc[5])
		s2 += aa[2]*float32(cc[2]) + aa[6]*float32(cc[6])
		s3 += aa[3]*float32(cc[3]) + aa[7]*float32(cc[7])
	}
	for ; i < len(a); i++ {
		s0 += a[i] * float32(c[i])
	}
	return (s0 + s1) + (s2 + s3)
}
