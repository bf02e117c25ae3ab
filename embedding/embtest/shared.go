package embtest

// SharedParameters is for tables whose every id reads parameters that
// every other id reads too, such as a network that computes vectors from
// the id alone (DHE): training any id changes every vector, so the
// Untouched check, which looks for ids sharing no row with a batch, does
// not apply and is skipped. Every other check stays.
func SharedParameters() Option {
	return func(o *options) { o.dense = true }
}
