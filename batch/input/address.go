package input

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits of RFC 5321 (section 4.5.3.1) that Google also applies.
const (
	maxAddress = 254
	maxLocal   = 64
	maxDomain  = 253
	maxLabel   = 63
)

// AddressError says why a cell is not a usable address. Reason is a short
// lower-case phrase meant for the report's error column, and Error returns
// it unchanged.
type AddressError struct {
	Reason string
}

func (e *AddressError) Error() string { return e.Reason }

func addrErr(format string, args ...any) error {
	return &AddressError{Reason: fmt.Sprintf(format, args...)}
}

// Address validates one cell of the email column and returns its normalized
// form: surrounding white space removed, lower-cased (Google account
// addresses are case-insensitive). A rejection is an *AddressError.
//
// Surrounding white space is any Unicode white space (so the no-break space
// U+00A0 that Excel and web pages leave behind is trimmed) plus U+200B
// (zero-width space) and U+FEFF (byte order mark); white space inside the
// address is rejected.
//
// Only a plain ASCII address local@domain is accepted, stricter than RFC
// 5322: the local part is a dot-atom of letters, digits and
// !$&'*+=^_`{|}~- (no leading, trailing or consecutive dots, at most 64
// characters); the domain is at least two LDH labels (1-63 characters, no
// leading or trailing '-'; at most 253 characters) whose last label is not
// all digits; the whole address is at most 254 characters. net/mail must
// accept it too.
//
// Why so strict: the address becomes part of a URL path, and the official
// Go client does not escape '/' or '..' in it, so a crafted address such as
// "a/../../b@x.com" could reach another API path. '/', '?', '#', '%', '\',
// quotes, white space, control characters, non-ASCII characters (Google
// account addresses are ASCII; IDN domains must be given in their xn--
// form), display-name forms ("Alice <a@x.com>") and "mailto:" prefixes are
// therefore rejected, each with its own reason, never escaped or repaired.
//
// A leading "'" before '=', '+', '-' or '@' is dropped first: it is how
// every CSV this tool writes (reports, status, export) keeps a spreadsheet
// from running a cell as a formula, so an exported "'=x@corp.com" reads
// back as "=x@corp.com".
func Address(raw string) (normalized string, err error) {
	s := strings.TrimFunc(raw, isTrimmable)
	if len(s) > 1 && s[0] == '\'' && strings.IndexByte("=+-@", s[1]) >= 0 {
		s = s[1:]
	}
	if s == "" {
		return "", addrErr("empty address")
	}
	if len(s) >= len("mailto:") && strings.EqualFold(s[:len("mailto:")], "mailto:") {
		return "", addrErr("mailto: prefix; give the bare address")
	}
	if strings.IndexByte(s, '<') >= 0 || strings.IndexByte(s, '>') >= 0 {
		return "", addrErr("display-name form; give the bare address")
	}
	if err := checkChars(s); err != nil {
		return "", err
	}
	at := strings.IndexByte(s, '@')
	switch {
	case at < 0:
		return "", addrErr("missing '@'")
	case strings.IndexByte(s[at+1:], '@') >= 0:
		return "", addrErr("more than one '@'")
	case len(s) > maxAddress:
		return "", addrErr("address longer than %d characters", maxAddress)
	}
	if err := checkLocal(s[:at]); err != nil {
		return "", err
	}
	if err := checkDomain(s[at+1:]); err != nil {
		return "", err
	}
	// The grammar above is stricter than RFC 5322: FuzzAddress checks that
	// net/mail accepts, unchanged, every address it accepts (calling
	// net/mail here cost 0.55 µs per row, 15% of a 1M-row resume).
	return strings.ToLower(s), nil
}

func isTrimmable(r rune) bool {
	return unicode.IsSpace(r) || r == '\u200b' || r == '\ufeff'
}

// checkChars rejects every character that cannot appear in an accepted
// address, naming the first one found.
func checkChars(s string) error {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == ' ':
				return addrErr("address contains white space")
			case c < 0x20 || c == 0x7f:
				return addrErr("address contains a control character")
			case c == '"':
				return addrErr("address contains a quote")
			case !isAtext(c) && c != '.' && c != '@':
				return addrErr("address contains %q", rune(c))
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case unicode.IsSpace(r) || r == '\u200b' || r == '\ufeff':
			return addrErr("address contains white space")
		case r == utf8.RuneError && n == 1:
			return addrErr("address contains invalid UTF-8")
		default:
			return addrErr("address contains a non-ASCII character; Google account addresses are ASCII, give IDN domains in xn-- form")
		}
	}
	return nil
}

// atext marks the bytes that may appear in a local part: RFC 5322 atext
// minus the characters this package always refuses ('/', '?', '#', '%').
var atext = func() (t [256]bool) {
	for c := range t {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("!$&'*+=^_`{|}~-", byte(c)) >= 0
	}
	return t
}()

func isAtext(c byte) bool { return atext[c] }

func checkLocal(l string) error {
	switch {
	case l == "":
		return addrErr("empty local part")
	case len(l) > maxLocal:
		return addrErr("local part longer than %d characters", maxLocal)
	case l[0] == '.':
		return addrErr("local part starts with '.'")
	case l[len(l)-1] == '.':
		return addrErr("local part ends with '.'")
	case strings.Contains(l, ".."):
		return addrErr("local part contains '..'")
	}
	return nil
}

func checkDomain(d string) error {
	switch {
	case d == "":
		return addrErr("empty domain")
	case len(d) > maxDomain:
		return addrErr("domain longer than %d characters", maxDomain)
	case strings.IndexByte(d, '.') < 0:
		return addrErr("domain has no '.'")
	case d[len(d)-1] == '.':
		return addrErr("domain has an empty label")
	}
	var l string
	for rest := d; rest != ""; {
		l, rest, _ = strings.Cut(rest, ".")
		switch {
		case l == "":
			return addrErr("domain has an empty label")
		case len(l) > maxLabel:
			return addrErr("domain label longer than %d characters", maxLabel)
		case l[0] == '-' || l[len(l)-1] == '-':
			return addrErr("domain label starts or ends with '-'")
		}
		for i := 0; i < len(l); i++ {
			if c := l[i]; !isLDH(c) {
				return addrErr("domain contains %q", rune(c))
			}
		}
	}
	if strings.Trim(l, "0123456789") == "" {
		return addrErr("top-level domain is numeric")
	}
	return nil
}

func isLDH(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-'
}

// InDomains reports whether the normalized address's domain is exactly one
// of domains, compared case-insensitively after trimming white space.
// Subdomains do not match, and an empty list matches nothing.
func InDomains(normalized string, domains []string) bool {
	at := strings.LastIndexByte(normalized, '@')
	if at < 0 {
		return false
	}
	d := normalized[at+1:]
	for _, want := range domains {
		if strings.EqualFold(d, strings.TrimSpace(want)) {
			return true
		}
	}
	return false
}
