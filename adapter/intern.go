package adapter

import (
	"strings"
	"unsafe"
)

// Interned header keys. Most header lines of real traffic carry one of a
// few dozen names. For those the Header map's key is a shared, immutable
// string from this table instead of a slice of the exchange's arena: the
// arena needs no bytes for it, the key needs no canonicalizing (a match
// with the canonical spelling is canonical), repeats are found with one bit
// per key, and write-back finds a key's group from the key's address.
//
// Every interned key is a slice of one string, keyBlob, so that a key's
// address tells whether it is one of them and which (see internedID).

// Ids of the keys conversion treats specially; 0 means "not interned".
// The first four are the ones net/http may keep out of the Header map, so
// that one comparison tells the others apart.
const (
	idNone uint8 = iota
	idHost
	idContentLength
	idTransferEncoding
	idTrailer
	idContentType
	idConnection
	idPragma
	idCacheControl
	idUserAgent
	idCookie
)

// commonKeys lists the interned keys in canonical form (as
// textproto.CanonicalMIMEHeaderKey spells them), indexed by id. Fewer than
// 128 so that a set of ids fits in two words.
var commonKeys = [...]string{
	idNone:             "",
	idHost:             "Host",
	idContentLength:    "Content-Length",
	idTransferEncoding: "Transfer-Encoding",
	idTrailer:          "Trailer",
	idContentType:      "Content-Type",
	idConnection:       "Connection",
	idPragma:           "Pragma",
	idCacheControl:     "Cache-Control",
	idUserAgent:        "User-Agent",
	idCookie:           "Cookie",
	// Requests.
	"Accept", "Accept-Charset", "Accept-Encoding", "Accept-Language",
	"Access-Control-Request-Headers", "Access-Control-Request-Method",
	"Authorization", "Content-Encoding", "Date", "Dnt", "Early-Data", "Expect",
	"Forwarded", "If-Match", "If-Modified-Since", "If-None-Match", "If-Range",
	"If-Unmodified-Since", "Keep-Alive", "Origin", "Priority",
	"Proxy-Authorization", "Range", "Referer", "Sec-Ch-Ua", "Sec-Ch-Ua-Mobile",
	"Sec-Ch-Ua-Platform", "Sec-Fetch-Dest", "Sec-Fetch-Mode", "Sec-Fetch-Site",
	"Sec-Fetch-User", "Sec-Gpc", "Sec-Purpose", "Sec-Websocket-Extensions",
	"Sec-Websocket-Key", "Sec-Websocket-Protocol", "Sec-Websocket-Version",
	"Te", "Upgrade", "Upgrade-Insecure-Requests", "Via", "X-Correlation-Id",
	"X-Csrf-Token", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Port",
	"X-Forwarded-Proto", "X-Real-Ip", "X-Request-Id", "X-Requested-With",
	"Traceparent", "Tracestate", "Baggage",
	// Responses.
	"Accept-Ranges", "Access-Control-Allow-Credentials",
	"Access-Control-Allow-Headers", "Access-Control-Allow-Methods",
	"Access-Control-Allow-Origin", "Access-Control-Expose-Headers",
	"Access-Control-Max-Age", "Age", "Allow", "Alt-Svc", "Content-Disposition",
	"Content-Language", "Content-Location", "Content-Range",
	"Content-Security-Policy", "Cross-Origin-Embedder-Policy",
	"Cross-Origin-Opener-Policy", "Cross-Origin-Resource-Policy", "Etag",
	"Expires", "Last-Modified", "Link", "Location", "Nel", "Permissions-Policy",
	"Proxy-Authenticate", "Referrer-Policy", "Report-To", "Retry-After",
	"Server", "Server-Timing", "Set-Cookie", "Strict-Transport-Security",
	"Timing-Allow-Origin", "Vary", "Www-Authenticate", "X-Content-Type-Options",
	"X-Frame-Options", "X-Powered-By", "X-Xss-Protection",
}

var (
	// keyBlob is every interned key, back to back.
	keyBlob string
	// internKeys[id] is commonKeys[id] as a slice of keyBlob.
	internKeys [len(commonKeys)]string
	// blobID[off] is the id of the interned key starting at keyBlob[off].
	blobID []uint8
	// keySlots is an open-addressed hash table of ids (0: empty slot).
	keySlots [keySlotCount]uint8
)

// keySlotCount keeps the table under a third full, so a lookup of a key
// that is not interned usually ends at the first empty slot.
const keySlotCount = 512

func init() {
	keyBlob = strings.Join(commonKeys[:], "")
	blobID = make([]uint8, len(keyBlob))
	off := 0
	for id, k := range commonKeys {
		if id == 0 {
			continue
		}
		internKeys[id] = keyBlob[off : off+len(k)]
		blobID[off] = uint8(id)
		off += len(k)
		i := keyHash(k)
		for keySlots[i] != 0 {
			i = (i + 1) % keySlotCount
		}
		keySlots[i] = uint8(id)
	}
}

// keyHash mixes a key's length and three of its bytes; len(k) > 0.
func keyHash[T string | []byte](k T) uint {
	n := uint(len(k))
	return (n*131 + uint(k[0])*31 + uint(k[n>>1])*7 + uint(k[n-1])) % keySlotCount
}

// lookupKey returns the id of the interned key spelled exactly k, or 0.
// A match means k is canonical already.
func lookupKey[T string | []byte](k T) uint8 {
	if len(k) == 0 {
		return 0
	}
	for i := keyHash(k); ; i = (i + 1) % keySlotCount {
		id := keySlots[i]
		if id == 0 || len(k) == len(internKeys[id]) && string(k) == internKeys[id] {
			return id
		}
	}
}

// internedID returns the id of key if key is one of internKeys itself (the
// same bytes in memory, not merely equal), or 0.
func internedID(key string) uint8 {
	off := uintptr(unsafe.Pointer(unsafe.StringData(key))) -
		uintptr(unsafe.Pointer(unsafe.StringData(keyBlob)))
	if off >= uintptr(len(keyBlob)) { // also catches addresses below keyBlob
		return 0
	}
	id := blobID[off]
	if id == 0 || len(internKeys[id]) != len(key) {
		return 0
	}
	return id
}
