package balancer

import (
	"errors"
	"syscall"
)

// LocalShortage reports whether err is the proxy's own lack of file
// descriptors (per process or system-wide) or kernel memory: a dial or an
// accept that failed with EMFILE, ENFILE, ENOBUFS or ENOMEM. It says
// nothing about the backend, so the caller reports such an attempt as
// NotSent and health checks do not count it: otherwise a burst of
// connections past the proxy's open-files limit would eject every healthy
// backend and keep answering 503 after the burst.
func LocalShortage(err error) bool {
	for _, e := range [...]syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
