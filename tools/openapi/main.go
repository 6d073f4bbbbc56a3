// Command openapi prints the admin API's OpenAPI document, as a node
// serves it at /v1/openapi.json, for `make lint-openapi` (which lints it
// with Redocly's CLI, pinned in package.json next to this file).
package main

import (
	"fmt"
	"os"

	"github.com/tally-licensing/tally/daemon/adminapi"
)

func main() {
	b, err := adminapi.OpenAPI()
	if err != nil {
		fmt.Fprintln(os.Stderr, "openapi:", err)
		os.Exit(1)
	}
	os.Stdout.Write(append(b, '\n'))
}
