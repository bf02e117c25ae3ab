package artifact

import (
	"errors"

	"golang.org/x/sys/unix"
)

// replaceDir puts the directory tmp at dir, which exists, in one atomic
// renameat2(RENAME_EXCHANGE): the old directory ends up at tmp. File
// systems without the flag get the portable two-step replacement.
func replaceDir(tmp, dir string) error {
	err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, dir, unix.RENAME_EXCHANGE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EOPNOTSUPP) {
		return replaceDirRename(tmp, dir)
	}
	return err
}
