package differencing

// The linear algebra of the guard: vectors over the classes of units, with
// coefficients modulo a prime. A suppressed cell can be computed from
// published cells exactly when its vector is a rational combination of
// theirs; working modulo a large prime gives the same answer for these 0/1
// vectors except with negligible probability, and keeps every number in a
// machine word.

// prime is 2^31 - 1: products of two residues fit in a uint64.
const prime = 1<<31 - 1

// entry is one non-zero coefficient.
type entry struct {
	col int
	val uint64
}

// vec is a sparse vector with entries in increasing column order.
type vec []entry

// lead returns the first column, or -1 for the zero vector.
func (v vec) lead() int {
	if len(v) == 0 {
		return -1
	}
	return v[0].col
}

// indicator returns the vector with 1 in each column (sorted, distinct).
func indicator(cols []int) vec {
	v := make(vec, len(cols))
	for i, c := range cols {
		v[i] = entry{c, 1}
	}
	return v
}

// subScaled returns v - a*w.
func subScaled(v vec, a uint64, w vec) vec {
	out := make(vec, 0, len(v)+len(w))
	i, j := 0, 0
	for i < len(v) || j < len(w) {
		switch {
		case j == len(w) || (i < len(v) && v[i].col < w[j].col):
			out = append(out, v[i])
			i++
		case i == len(v) || w[j].col < v[i].col:
			out = append(out, entry{w[j].col, (prime - a*w[j].val%prime) % prime})
			j++
		default:
			if x := (v[i].val + prime - a*w[j].val%prime) % prime; x != 0 {
				out = append(out, entry{v[i].col, x})
			}
			i++
			j++
		}
	}
	return out
}

// scale returns a*v.
func scale(v vec, a uint64) vec {
	out := make(vec, len(v))
	for i, e := range v {
		out[i] = entry{e.col, e.val * a % prime}
	}
	return out
}

// inverse returns a^-1 modulo prime (a != 0), by Fermat.
func inverse(a uint64) uint64 {
	r, b, e := uint64(1), a%prime, uint64(prime-2)
	for e > 0 {
		if e&1 == 1 {
			r = r * b % prime
		}
		b = b * b % prime
		e >>= 1
	}
	return r
}

// basis is a row echelon basis: at most one row per leading column, each
// scaled so that its leading coefficient is 1.
type basis map[int]vec

// reduce eliminates v's leading column while a basis row leads there. The
// result is zero exactly when v is in the span; otherwise its leading
// column leads no basis row.
func (b basis) reduce(v vec) vec {
	for len(v) > 0 {
		row, ok := b[v[0].col]
		if !ok {
			return v
		}
		v = subScaled(v, v[0].val, row)
	}
	return v
}

// add inserts a reduced, non-zero v and returns its leading column.
func (b basis) add(v vec) int {
	c := v.lead()
	b[c] = scale(v, inverse(v[0].val))
	return c
}
