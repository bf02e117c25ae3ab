// Package methods links every table method of the module into a binary:
// importing it (for its side effects) registers them all with package
// embedding, which registers its own (full, hashed, qr, hybrid). The
// trainer and the server import it, so `train --table NAME` and an
// artifact naming NAME find the same method. A method's package registers
// itself in an init function ([embedding.RegisterMethod]); add its import
// here.
package methods

import (
	_ "github.com/embtab/embtab/adaptemb"  // adaptemb
	_ "github.com/embtab/embtab/cafe"      // cafe
	_ "github.com/embtab/embtab/dedup"     // dedup
	_ "github.com/embtab/embtab/dhe"       // dhe
	_ "github.com/embtab/embtab/mde"       // mde
	_ "github.com/embtab/embtab/multiplex" // multiplex, unified, multiprobe
	_ "github.com/embtab/embtab/pq"        // mgqe, dpq
	_ "github.com/embtab/embtab/prune"     // deeplight, pep
	_ "github.com/embtab/embtab/robe"      // robe
	_ "github.com/embtab/embtab/ttrec"     // ttrec
)
