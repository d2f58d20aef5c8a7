package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/mptcp-go/mptcp/mpcrypto"
	"github.com/mptcp-go/mptcp/option"
)

const decodeDescription = `
Decode MPTCP options (RFC 8684, RFC 6824) given in hex: one option starting
at its kind byte (1e), or a whole TCP options block from which every MPTCP
option is picked (NOP and other kinds are skipped; EOL, kind 0, ends the
list as in RFC 9293 §3.1, so nothing after it is decoded). Spaces, tabs,
colons, dashes, commas and a 0x prefix on each group are ignored, so
"1e:0c:00:01:...", "0x1e 0x0c ..." and tshark's tcp.options output all
work. All arguments form one input; "-" (the only argument) reads one
input per line from standard input instead.

Fields are printed with Wireshark's display-filter names and tshark's
formatting. For every key the token and IDSN are derived (SHA-1 for v0,
SHA-256 for v1).

Example:
  mptcp decode 1e0c00017acdc123cc42a7ec

Exit status: 0 decoded, 1 undecodable input, 2 usage error.`

// runDecode implements "mptcp decode".
func runDecode(_ context.Context, env *cmdEnv, args []string) int {
	fs := newFlagSet(env, "decode", "[--json] [--version auto|v0|v1] [--strict] HEX... | -", decodeDescription)
	asJSON := fs.Bool("json", false, "print JSON (one object per input) instead of text")
	version := fs.String("version", "auto", "`layout` for version-dependent options (ADD_ADDR) and key hashes where the option does not say: auto, v0 or v1")
	strict := fs.Bool("strict", false, "reject options with reserved bits set")
	pos, code, done := parseFlags(fs, env, args)
	if done {
		return code
	}
	p := option.Parser{Strict: *strict}
	switch *version {
	case "auto":
		p.Version = option.AutoVersion
	case "v0", "0":
		p.Version = option.AssumeV0
	case "v1", "1":
		p.Version = option.AssumeV1
	default:
		fmt.Fprintf(env.stderr, "mptcp decode: --version %q: want auto, v0 or v1\n", *version)
		return exitUsage
	}
	if len(pos) == 0 {
		fmt.Fprintln(env.stderr, "mptcp decode: no input; give option bytes in hex, or - to read lines from standard input")
		fs.Usage()
		return exitUsage
	}

	var inputs []string
	if slices.Contains(pos, "-") && len(pos) > 1 {
		fmt.Fprintln(env.stderr, `mptcp decode: "-" reads standard input and must be the only argument`)
		return exitUsage
	}
	if len(pos) == 1 && pos[0] == "-" {
		sc := bufio.NewScanner(env.stdin)
		sc.Buffer(make([]byte, 64*1024), 1<<20)
		for sc.Scan() {
			if line := strings.TrimSpace(sc.Text()); line != "" {
				inputs = append(inputs, line)
			}
		}
		if err := sc.Err(); err != nil {
			fmt.Fprintf(env.stderr, "mptcp decode: read standard input: %v\n", err)
			return exitFailure
		}
		if len(inputs) == 0 {
			fmt.Fprintln(env.stderr, "mptcp decode: standard input has no hex lines")
			return exitFailure
		}
	} else {
		// Joined with spaces, so that each argument may carry its own
		// 0x prefix.
		inputs = []string{strings.Join(pos, " ")}
	}

	code = exitOK
	for i, in := range inputs {
		res := decodeInput(p, in)
		var err error
		if *asJSON {
			err = writeDecodeJSON(env.stdout, res)
		} else {
			err = writeDecodeText(env.stdout, res, len(inputs) > 1, i == 0)
		}
		if err != nil {
			fmt.Fprintf(env.stderr, "mptcp decode: write output: %v\n", err)
			return exitFailure
		}
		if res.err != nil {
			fmt.Fprintf(env.stderr, "mptcp decode: %v\n", res.err)
			code = exitFailure
		}
	}
	return code
}

// decodedOption is one MPTCP option of an input, ready to print.
type decodedOption struct {
	Offset  int            `json:"offset"`
	Hex     string         `json:"hex"`
	Subtype string         `json:"subtype"`
	Summary string         `json:"summary"`
	Fields  []option.Field `json:"fields"`
	// Derived holds values computed from the option (tokens and IDSNs of
	// keys); the names that Wireshark has are Wireshark's.
	Derived []option.Field `json:"derived,omitempty"`
}

// decodeResult is the outcome for one input: the options decoded before
// any error, and the error.
type decodeResult struct {
	Input   string          `json:"input"`
	Options []decodedOption `json:"options"`
	Error   string          `json:"error,omitempty"`
	err     error
	whole   bool // the input was exactly one option
}

// parseHex decodes hex ignoring separators (space, tab, colon, dash,
// comma) and a 0x prefix at the start of each separated group, so that
// "0x1e 0x0c" and "0x1e0c" both work. Offsets in errors are byte offsets in s.
func parseHex(s string) ([]byte, error) {
	digits := make([]byte, 0, len(s))
	groupStart := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == ':' || c == '-' || c == '\t' || c == ',' || c == '\r' || c == '\n':
			groupStart = true
			continue
		case groupStart && c == '0' && i+1 < len(s) && (s[i+1] == 'x' || s[i+1] == 'X'):
			i++ // skip the prefix
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f', 'A' <= c && c <= 'F':
			digits = append(digits, c)
		default:
			r, _ := utf8.DecodeRuneInString(s[i:])
			return nil, fmt.Errorf("invalid hex: %q at offset %d", r, i)
		}
		groupStart = false
	}
	if len(digits) == 0 {
		return nil, errors.New("invalid hex: no digits")
	}
	if len(digits)%2 != 0 {
		return nil, fmt.Errorf("invalid hex: odd number of digits (%d)", len(digits))
	}
	b := make([]byte, len(digits)/2)
	if _, err := hex.Decode(b, digits); err != nil {
		return nil, fmt.Errorf("invalid hex: %w", err)
	}
	return b, nil
}

func decodeInput(p option.Parser, in string) decodeResult {
	res := decodeResult{Input: in, Options: []decodedOption{}}
	fail := func(err error) decodeResult {
		res.err = err
		res.Error = err.Error()
		return res
	}
	b, err := parseHex(in)
	if err != nil {
		return fail(err)
	}
	res.Input = hex.EncodeToString(b)
	it := option.NewIter(b)
	for it.Next() {
		raw := it.Bytes()
		off := it.Offset() - len(raw)
		o, err := p.Parse(raw)
		if err != nil {
			return fail(fmt.Errorf("option at offset %d (%x): %w", off, raw, err))
		}
		res.Options = append(res.Options, describe(p, o, off, raw))
	}
	if err := it.Err(); err != nil {
		return fail(err)
	}
	if len(res.Options) == 0 {
		return fail(fmt.Errorf("no MPTCP option (kind %d) in %d bytes of TCP options", option.Kind, len(b)))
	}
	res.whole = len(res.Options) == 1 && len(res.Options[0].Hex) == 2*len(b)
	return res
}

// hashVersion is the version whose hash applies to keys in o.
func hashVersion(p option.Parser, o *option.Option) option.Version {
	if o.Subtype == option.SubtypeMPCapable {
		return o.MPCapable.Version
	}
	if p.Version == option.AssumeV0 {
		return option.V0
	}
	return option.V1
}

func hashName(v option.Version) string {
	if v == option.V0 {
		return "SHA-1"
	}
	return "SHA-256"
}

// keyDerived returns the token and IDSN fields of key.
func keyDerived(v option.Version, key uint64, tokenName, idsnName, whose string) []option.Field {
	tok, idsn := mpcrypto.TokenIDSN(v, key)
	return []option.Field{
		{Name: tokenName, Value: strconv.FormatUint(uint64(tok), 10), Info: fmt.Sprintf("0x%08x, token of the %s key (%s)", tok, whose, hashName(v))},
		{Name: idsnName, Value: strconv.FormatUint(idsn, 10), Info: fmt.Sprintf("0x%016x, IDSN of the %s key (%s)", idsn, whose, hashName(v))},
	}
}

func describe(p option.Parser, o option.Option, off int, raw []byte) decodedOption {
	d := decodedOption{
		Offset:  off,
		Hex:     hex.EncodeToString(raw),
		Subtype: o.Subtype.String(),
		Fields:  o.Fields(nil),
	}
	v := hashVersion(p, &o)
	var sum strings.Builder
	switch o.Subtype {
	case option.SubtypeMPCapable:
		c := o.MPCapable
		fmt.Fprintf(&sum, "MP_CAPABLE %v (%s), flags 0x%02x (%s)", c.Version, c.Step(), c.Flags, c.FlagNames())
		if c.HasSenderKey {
			tok, idsn := mpcrypto.TokenIDSN(v, c.SenderKey)
			fmt.Fprintf(&sum, ", sender key %d (0x%016x), token 0x%08x, IDSN 0x%016x", c.SenderKey, c.SenderKey, tok, idsn)
			// Wireshark's generated fields for the sender's key.
			d.Derived = append(d.Derived, keyDerived(v, c.SenderKey, "mptcp.expected_token", "mptcp.expected_idsn", "sender's")...)
		}
		if c.HasReceiverKey {
			tok, idsn := mpcrypto.TokenIDSN(v, c.ReceiverKey)
			fmt.Fprintf(&sum, ", receiver key %d (0x%016x), token 0x%08x, IDSN 0x%016x", c.ReceiverKey, c.ReceiverKey, tok, idsn)
			d.Derived = append(d.Derived, keyDerived(v, c.ReceiverKey, "recvkey.token", "recvkey.idsn", "receiver's")...)
		}
		if c.HasDataLen {
			fmt.Fprintf(&sum, ", data-level length %d", c.DataLen)
		}
		if c.HasChecksum {
			fmt.Fprintf(&sum, ", checksum 0x%04x", c.Checksum)
		}
	case option.SubtypeMPFastclose:
		k := o.MPFastclose.ReceiverKey
		tok, _ := mpcrypto.TokenIDSN(v, k)
		fmt.Fprintf(&sum, "MP_FASTCLOSE, receiver key %d (0x%016x), token 0x%08x (%s)", k, k, tok, hashName(v))
		d.Derived = keyDerived(v, k, "recvkey.token", "recvkey.idsn", "receiver's")
	case option.SubtypeDSS:
		sum.WriteString(o.String())
		switch m := o.DSS; {
		case m.HasMapping() && m.DataLen == 0:
			sum.WriteString(", infinite mapping (RFC 8684 §3.3.1)")
		case m.HasMapping() && m.DataFIN() && m.SubflowSeq == 0 && m.DataLen == 1:
			sum.WriteString(", DATA_FIN without data (RFC 8684 §3.3.3)")
		case m.DataFIN() && !m.HasMapping():
			sum.WriteString(", F set without a mapping for the DATA_FIN to belong to (RFC 8684 §3.3)")
		}
	default:
		sum.WriteString(o.String())
	}
	d.Summary = sum.String()
	return d
}

func writeDecodeJSON(w io.Writer, res decodeResult) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}

// writeDecodeText prints one input's options: a summary line, then one
// line per field. With several inputs each starts with an "input" line.
func writeDecodeText(w io.Writer, res decodeResult, showInput, first bool) error {
	bw := bufio.NewWriter(w)
	if showInput {
		if !first {
			fmt.Fprintln(bw)
		}
		fmt.Fprintf(bw, "input %s\n", res.Input)
	}
	for i, d := range res.Options {
		if i > 0 {
			fmt.Fprintln(bw)
		}
		if res.whole {
			fmt.Fprintln(bw, d.Summary)
		} else {
			fmt.Fprintf(bw, "offset %d: %s\n  bytes %s\n", d.Offset, d.Summary, d.Hex)
		}
		tw := tabwriter.NewWriter(bw, 0, 8, 2, ' ', 0)
		for _, f := range append(d.Fields[:len(d.Fields):len(d.Fields)], d.Derived...) {
			if f.Info == "" {
				fmt.Fprintf(tw, "  %s\t%s\n", f.Name, f.Value)
			} else {
				fmt.Fprintf(tw, "  %s\t%s\t%s\n", f.Name, f.Value, f.Info)
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return bw.Flush()
}
