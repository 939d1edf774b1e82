// Package confkey makes configuration errors name their key in full.
package confkey

import (
	"errors"
	"fmt"
)

// Within prefixes each error joined in err with the key it is found under, so every line of the
// message names its key in full: "service_graph: edges[0]: requests must ...".
func Within(key string, err error) error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs := j.Unwrap()
		out := make([]error, len(errs))
		for i, e := range errs {
			out[i] = Within(key, e)
		}
		return errors.Join(out...)
	}
	return fmt.Errorf("%s: %w", key, err)
}
