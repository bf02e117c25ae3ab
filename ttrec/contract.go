package ttrec

// contraction is a tensor-train field's [embedding.GradComputer]: the
// chained product of an id's three core slices and its backward. It has no
// state, so Lookups may share it.
//
// rows holds the slices in key order: G1[i1] (d1 x r, element [a, p] at
// a·r + p), then G2[i2] (r x d2 x r, [p, b, q] at (p·d2 + b)·r + q), then
// G3[i3] (r x d3, [q, c] at q·d3 + c).
type contraction struct {
	d1, d2, d3, r int
}

func (k contraction) split(rows []float32) (g1, g2, g3 []float32) {
	n1, n2, n3 := k.d1*k.r, k.r*k.d2*k.r, k.r*k.d3
	return rows[:n1:n1], rows[n1 : n1+n2 : n1+n2], rows[n1+n2 : n1+n2+n3 : n1+n2+n3]
}

// partial writes t[q] = Σ_p G1[a, p] · G2[p, b, q].
func (k contraction) partial(t, g1, g2 []float32, a, b int) {
	r, d2 := k.r, k.d2
	clear(t)
	for p, x := range g1[a*r : (a+1)*r] {
		row := g2[(p*d2+b)*r : (p*d2+b+1)*r]
		for q, y := range row {
			t[q] += x * y
		}
	}
}

// Compute writes E[a, b, c] = Σ_q (Σ_p G1[a, p]·G2[p, b, q])·G3[q, c] to
// out[(a·d2 + b)·d3 + c].
func (k contraction) Compute(_ uint64, rows, out []float32) {
	g1, g2, g3 := k.split(rows)
	var tb [MaxRank]float32
	t := tb[:k.r]
	d3 := k.d3
	for a := range k.d1 {
		for b := range k.d2 {
			k.partial(t, g1, g2, a, b)
			o := out[(a*k.d2+b)*d3 : (a*k.d2+b+1)*d3]
			clear(o)
			for q, x := range t {
				for c, y := range g3[q*d3 : (q+1)*d3] {
					o[c] += x * y
				}
			}
		}
	}
}

// Backward writes into drows the gradient with respect to the three
// slices, given dout, the gradient with respect to Compute's out:
//
//	dG3[q, c]    = Σ_ab T[a, b, q]·dE[a, b, c]
//	dT[a, b, q]  = Σ_c dE[a, b, c]·G3[q, c]
//	dG1[a, p]    = Σ_bq dT[a, b, q]·G2[p, b, q]
//	dG2[p, b, q] = Σ_a G1[a, p]·dT[a, b, q]
//
// with T[a, b, q] = Σ_p G1[a, p]·G2[p, b, q].
func (k contraction) Backward(_ uint64, rows, dout, drows []float32) {
	g1, g2, g3 := k.split(rows)
	h1, h2, h3 := k.split(drows)
	clear(drows[:len(g1)+len(g2)+len(g3)])
	var tb, ub [MaxRank]float32
	r, d2, d3 := k.r, k.d2, k.d3
	t, u := tb[:r], ub[:r]
	for a := range k.d1 {
		for b := range d2 {
			k.partial(t, g1, g2, a, b)
			e := dout[(a*d2+b)*d3 : (a*d2+b+1)*d3]
			for q := range u {
				row, hrow := g3[q*d3:(q+1)*d3], h3[q*d3:(q+1)*d3]
				var s float32
				x := t[q]
				for c, g := range e {
					s += g * row[c]
					hrow[c] += x * g
				}
				u[q] = s
			}
			for p, x := range g1[a*r : (a+1)*r] {
				off := (p*d2 + b) * r
				row, hrow := g2[off:off+r], h2[off:off+r]
				var s float32
				for q, y := range u {
					s += y * row[q]
					hrow[q] += x * y
				}
				h1[a*r+p] += s
			}
		}
	}
}
