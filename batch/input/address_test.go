package input

import (
	"errors"
	"net/mail"
	"strings"
	"testing"
)

func TestAddressAccepted(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "a@x.com", "a@x.com"},
		{"upper case", "Alice.Smith@Example.COM", "alice.smith@example.com"},
		{"surrounding space", "  a@x.com\t", "a@x.com"},
		{"our own formula quote", "'=x@example.com", "=x@example.com"},
		{"a quote kept before other characters", "'a@x.com", "'a@x.com"},
		{"no-break space", "\u00a0a@x.com\u00a0", "a@x.com"},
		{"zero-width space and BOM", "\ufeffa@x.com\u200b", "a@x.com"},
		{"CR LF", "a@x.com\r\n", "a@x.com"},
		{"atext", "o'brien+tag!$&*=^_`{|}~-@x.com", "o'brien+tag!$&*=^_`{|}~-@x.com"},
		{"dots", "a.b.c@sub.x.co.uk", "a.b.c@sub.x.co.uk"},
		{"idn in xn-- form", "a@xn--mnchen-3ya.de", "a@xn--mnchen-3ya.de"},
		{"numeric label", "a@123.x.com", "a@123.x.com"},
		{"hyphen inside label", "a@my-host.x.com", "a@my-host.x.com"},
		{"max local", strings.Repeat("a", 64) + "@x.com", strings.Repeat("a", 64) + "@x.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Address(tt.in)
			if err != nil {
				t.Fatalf("Address(%q) error: %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("Address(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestAddressRejected(t *testing.T) {
	long63 := strings.Repeat("a", 63)
	tests := []struct {
		name, in, reason string
	}{
		{"empty", "", "empty address"},
		{"only spaces", " \u00a0 ", "empty address"},
		{"path traversal", "a/../b@x.com", "address contains '/'"},
		{"slash in domain", "a@x.com/b", "address contains '/'"},
		{"question mark", "a?x@x.com", "address contains '?'"},
		{"percent escape", "a%2Fb@x.com", "address contains '%'"},
		{"hash", "a#b@x.com", "address contains '#'"},
		{"backslash", `a\b@x.com`, `address contains '\\'`},
		{"double quote", `"a b"@x.com`, "address contains a quote"},
		{"display name", "Alice <a@x.com>", "display-name form; give the bare address"},
		{"angle brackets", "<a@x.com>", "display-name form; give the bare address"},
		{"mailto", "mailto:a@x.com", "mailto: prefix; give the bare address"},
		{"MAILTO", "MAILTO:a@x.com", "mailto: prefix; give the bare address"},
		{"non-ASCII local", "ü@x.com", "address contains a non-ASCII character; Google account addresses are ASCII, give IDN domains in xn-- form"},
		{"non-ASCII domain", "a@münchen.de", "address contains a non-ASCII character; Google account addresses are ASCII, give IDN domains in xn-- form"},
		{"invalid UTF-8", "a\xff@x.com", "address contains invalid UTF-8"},
		{"inner space", "a b@x.com", "address contains white space"},
		{"inner no-break space", "a\u00a0b@x.com", "address contains white space"},
		{"inner tab", "a\tb@x.com", "address contains a control character"},
		{"NUL", "a\x00b@x.com", "address contains a control character"},
		{"newline", "a\nb@x.com", "address contains a control character"},
		{"DEL", "a\x7f@x.com", "address contains a control character"},
		{"comma", "a,b@x.com", "address contains ','"},
		{"semicolon list", "a@x.com;b@x.com", "address contains ';'"},
		{"parenthesis comment", "a(c)@x.com", "address contains '('"},
		{"domain literal", "a@[1.2.3.4]", "address contains '['"},
		{"colon", "a:b@x.com", "address contains ':'"},
		{"no at", "ax.com", "missing '@'"},
		{"two ats", "a@b@x.com", "more than one '@'"},
		{"no domain dot", "a@x", "domain has no '.'"},
		{"empty local", "@x.com", "empty local part"},
		{"empty domain", "a@", "empty domain"},
		{"double dot", "a..b@x.com", "local part contains '..'"},
		{"leading dot", ".a@x.com", "local part starts with '.'"},
		{"trailing dot", "a.@x.com", "local part ends with '.'"},
		{"local too long", strings.Repeat("a", 65) + "@x.com", "local part longer than 64 characters"},
		{"domain empty label", "a@x..com", "domain has an empty label"},
		{"domain leading dot", "a@.x.com", "domain has an empty label"},
		{"domain trailing dot", "a@x.com.", "domain has an empty label"},
		{"label too long", "a@" + long63 + "a.com", "domain label longer than 63 characters"},
		{"label leading hyphen", "a@-x.com", "domain label starts or ends with '-'"},
		{"label trailing hyphen", "a@x-.com", "domain label starts or ends with '-'"},
		{"underscore in domain", "a@x_y.com", "domain contains '_'"},
		{"numeric tld", "a@1.2.3.4", "top-level domain is numeric"},
		{"address too long", "a@" + strings.Repeat(long63+".", 4) + "com", "address longer than 254 characters"},
		{"domain too long", strings.Repeat("a", 64) + "@" + strings.Repeat("b.", 126) + "c", "address longer than 254 characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Address(tt.in)
			var ae *AddressError
			if !errors.As(err, &ae) {
				t.Fatalf("Address(%q) = %q, %v; want *AddressError %q", tt.in, got, err, tt.reason)
			}
			if got != "" {
				t.Errorf("Address(%q) returned %q with an error, want \"\"", tt.in, got)
			}
			if ae.Reason != tt.reason {
				t.Errorf("Address(%q) reason %q, want %q", tt.in, ae.Reason, tt.reason)
			}
		})
	}
}

func TestCheckDomainLength(t *testing.T) {
	// Unreachable through Address (the address limit comes first), kept
	// as a guard for the helper.
	d := strings.Repeat("b.", 127) + "c"
	err := checkDomain(d)
	var ae *AddressError
	if !errors.As(err, &ae) || ae.Reason != "domain longer than 253 characters" {
		t.Errorf("checkDomain(%d chars) = %v, want domain longer than 253 characters", len(d), err)
	}
}

func TestInDomains(t *testing.T) {
	tests := []struct {
		name    string
		addr    string
		domains []string
		want    bool
	}{
		{"match", "a@x.com", []string{"y.com", "x.com"}, true},
		{"case", "a@x.com", []string{" X.Com "}, true},
		{"subdomain does not match", "a@sub.x.com", []string{"x.com"}, false},
		{"parent does not match", "a@x.com", []string{"sub.x.com"}, false},
		{"suffix trick", "a@evilx.com", []string{"x.com"}, false},
		{"empty list", "a@x.com", nil, false},
		{"no at", "x.com", []string{"x.com"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := InDomains(tt.addr, tt.domains); got != tt.want {
				t.Errorf("InDomains(%q, %q) = %v, want %v", tt.addr, tt.domains, got, tt.want)
			}
		})
	}
}

func FuzzAddress(f *testing.F) {
	for _, s := range []string{
		"a@x.com", " A@X.COM ", "a/../b@x.com", "a%2Fb@x.com", "Alice <a@x.com>",
		"ü@x.com", "a@x", "a..b@x.com", "mailto:a@x.com", "\u00a0a@x.com", `"a"@x.com`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := Address(raw)
		if err != nil {
			var ae *AddressError
			if !errors.As(err, &ae) || ae.Reason == "" {
				t.Fatalf("Address(%q) error %v is not an *AddressError with a reason", raw, err)
			}
			return
		}
		// Whatever the RFC 5322 parser refuses, Address refuses.
		if a, err := mail.ParseAddress(got); err != nil || a.Address != got {
			t.Fatalf("Address(%q) = %q, which net/mail refuses or changes: %v", raw, got, err)
		}
		if strings.ContainsAny(got, "/?#%\\ \"<>") {
			t.Fatalf("Address(%q) = %q contains a forbidden character", raw, got)
		}
		if strings.Contains(got, "..") {
			t.Fatalf("Address(%q) = %q contains '..'", raw, got)
		}
		for i := 0; i < len(got); i++ {
			if c := got[i]; c < 0x21 || c >= 0x7f {
				t.Fatalf("Address(%q) = %q contains byte %#x", raw, got, c)
			}
		}
		if got != strings.ToLower(got) {
			t.Fatalf("Address(%q) = %q is not lower case", raw, got)
		}
		again, err := Address(got)
		if err != nil || again != got {
			t.Fatalf("Address(%q) = %q, %v; want it unchanged (from %q)", got, again, err, raw)
		}
	})
}
