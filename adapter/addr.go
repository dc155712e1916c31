package adapter

import "net"

// appendAddr appends addr as net.Addr.String would, without allocating
// for TCP addresses.
func appendAddr(b []byte, addr net.Addr) []byte {
	if a, ok := addr.(*net.TCPAddr); ok {
		ap := a.AddrPort()
		if ip := ap.Addr(); ip.Is4In6() {
			// TCPAddr.String prints a v4-in-v6 address as IPv4.
			b = ip.Unmap().AppendTo(b)
			b = append(b, ':')
			return appendUint(b, uint(ap.Port()))
		}
		if ap.Addr().IsValid() {
			return ap.AppendTo(b)
		}
	}
	if addr == nil {
		return b
	}
	return append(b, addr.String()...)
}

func appendUint(b []byte, n uint) []byte {
	var d [20]byte
	i := len(d)
	for {
		i--
		d[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return append(b, d[i:]...)
}
