package artifact

import (
	"fmt"
	"os"
)

// replaceDirRename renames dir aside to dir+oldSuffix and tmp to dir. A
// crash between the two renames leaves no directory at dir; the old
// artifact is then at dir+oldSuffix and the new one at tmp.
func replaceDirRename(tmp, dir string) error {
	old := dir + oldSuffix
	if err := os.RemoveAll(old); err != nil {
		return fmt.Errorf("remove stale %s: %w", old, err)
	}
	if err := os.Rename(dir, old); err != nil {
		return err
	}
	if err := os.Rename(tmp, dir); err != nil {
		os.Rename(old, dir)
		return err
	}
	return nil
}
