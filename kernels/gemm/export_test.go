package gemm

// SetMinWorkPerThread lowers the work below which Sgemm stays on one
// goroutine, so that small tests exercise the threaded split.
func SetMinWorkPerThread(n int) (restore func()) {
	old := minWorkPerThread
	minWorkPerThread = n
	return func() { minWorkPerThread = old }
}

// MicroTile returns the register tile of the implementation in use.
func MicroTile() (mr, nr int) {
	ks := kernelSets[active()]
	return ks.mr, ks.nr
}
