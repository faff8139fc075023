// Package confyaml holds the strict-YAML helpers that the config file and
// the feature folders configured inside it share: a duration type, errors
// that name their line, and strict decoding of one node.
//
// It exists below both config and the pbx feature packages (config imports
// pbx/dialplan, so the helpers cannot live in config). yaml.v3's
// Decoder.KnownFields applies only to a whole document: Node.Decode, which
// a custom UnmarshalYAML or a plug-in decoding its own sub-tree must use,
// silently ignores unknown keys. DecodeStrict restores the check.
package confyaml

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Duration is a time.Duration written as "500ms", "4s", "5m".
type Duration time.Duration

// UnmarshalYAML reads a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: bad duration %q (want e.g. 500ms, 4s)", n.Line, s)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration as a string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Errorf returns an error prefixed with the line of n ("line 12: ..."),
// the form every config error takes.
func Errorf(n *yaml.Node, format string, args ...any) error {
	line := 0
	if n != nil {
		line = n.Line
	}
	return fmt.Errorf("line %d: %s", line, fmt.Sprintf(format, args...))
}

// Flatten turns a *yaml.TypeError (one line per problem) into one error
// whose text joins them with "; ", and leaves other errors alone.
func Flatten(err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return errors.New(strings.Join(te.Errors, "; "))
	}
	return err
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

// DecodeStrict decodes n into v (a pointer) like n.Decode, but a mapping key
// that names no field of the target struct is an error with its line, as
// with Decoder.KnownFields(true). Types with their own UnmarshalYAML are
// trusted to check their own keys.
func DecodeStrict(n *yaml.Node, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return errors.New("confyaml: DecodeStrict needs a non-nil pointer")
	}
	var errs []error
	checkKeys(n, rv.Type().Elem(), &errs, 0)
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return Flatten(n.Decode(v))
}

// checkKeys walks n beside t and collects unknown keys. depth bounds the
// walk for recursive types and alias bombs.
func checkKeys(n *yaml.Node, t reflect.Type, errs *[]error, depth int) {
	if n == nil || depth > 64 {
		return
	}
	if n.Kind == yaml.AliasNode {
		checkKeys(n.Alias, t, errs, depth+1)
		return
	}
	if n.Kind == yaml.DocumentNode {
		for _, c := range n.Content {
			checkKeys(c, t, errs, depth+1)
		}
		return
	}
	if t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType) {
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		checkKeys(n, t.Elem(), errs, depth+1)
	case reflect.Slice, reflect.Array:
		if n.Kind == yaml.SequenceNode {
			for _, c := range n.Content {
				checkKeys(c, t.Elem(), errs, depth+1)
			}
		}
	case reflect.Map:
		if n.Kind == yaml.MappingNode {
			for i := 1; i < len(n.Content); i += 2 {
				checkKeys(n.Content[i], t.Elem(), errs, depth+1)
			}
		}
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return
		}
		fields := map[string]reflect.Type{}
		structFields(t, fields)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			ft, ok := fields[k.Value]
			if !ok {
				*errs = append(*errs, fmt.Errorf("line %d: field %s not found in type %s", k.Line, k.Value, t))
				continue
			}
			checkKeys(n.Content[i+1], ft, errs, depth+1)
		}
	}
}

// structFields maps the YAML keys of t (yaml.v3's rules: the tag name, else
// the lower-cased field name; ",inline" structs merged) to field types.
func structFields(t reflect.Type, into map[string]reflect.Type) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.PkgPath != "" && !f.Anonymous {
			continue // unexported
		}
		tag := f.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if strings.Contains(","+opts+",", ",inline,") {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				structFields(ft, into)
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		into[name] = f.Type
	}
}
