package ann

// item is a node and its distance to the query.
type item struct {
	dist float32
	id   uint32
}

// minHeap and maxHeap are binary heaps of items by dist, reused across
// searches (reset keeps the capacity).
type minHeap []item

func (h *minHeap) push(x item) {
	s := append(*h, x)
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if s[p].dist <= x.dist {
			break
		}
		s[i] = s[p]
		i = p
	}
	s[i] = x
	*h = s
}

func (h *minHeap) pop() item {
	s := *h
	top := s[0]
	n := len(s) - 1
	x := s[n]
	s = s[:n]
	i := 0
	for {
		c := 2*i + 1
		if c >= n {
			break
		}
		if c+1 < n && s[c+1].dist < s[c].dist {
			c++
		}
		if x.dist <= s[c].dist {
			break
		}
		s[i] = s[c]
		i = c
	}
	if n > 0 {
		s[i] = x
	}
	*h = s
	return top
}

type maxHeap []item

func (h *maxHeap) push(x item) {
	s := append(*h, x)
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if s[p].dist >= x.dist {
			break
		}
		s[i] = s[p]
		i = p
	}
	s[i] = x
	*h = s
}

func (h *maxHeap) pop() item {
	s := *h
	top := s[0]
	n := len(s) - 1
	x := s[n]
	s = s[:n]
	if n > 0 {
		s.replaceTop(x)
	}
	*h = s
	return top
}

// replaceTop replaces the largest item with x and restores the heap: a
// push then a pop in one sift, for a full result set that x improves.
func (h maxHeap) replaceTop(x item) {
	n := len(h)
	i := 0
	for {
		c := 2*i + 1
		if c >= n {
			break
		}
		if c+1 < n && h[c+1].dist > h[c].dist {
			c++
		}
		if x.dist >= h[c].dist {
			break
		}
		h[i] = h[c]
		i = c
	}
	h[i] = x
}
