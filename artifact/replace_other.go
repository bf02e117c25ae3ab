//go:build !linux

package artifact

// replaceDir puts the directory tmp at dir, which exists: see
// replaceDirRename.
func replaceDir(tmp, dir string) error { return replaceDirRename(tmp, dir) }
