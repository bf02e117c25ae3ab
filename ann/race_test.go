//go:build race

package ann

// raceEnabled: sync.Pool drops items at random under the race detector.
const raceEnabled = true
