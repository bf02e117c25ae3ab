package kernels

// SetMinWorkPerThread lowers the work below which GatherDequant stays on
// one goroutine, so that small tests exercise the threaded split.
func SetMinWorkPerThread(n int) (restore func()) {
	old := minWorkPerThread
	minWorkPerThread = n
	return func() { minWorkPerThread = old }
}
