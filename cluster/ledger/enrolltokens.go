package ledger

import (
	"slices"
	"strings"

	"github.com/tally-licensing/tally/protocol"
)

// MaxEnrollUses bounds an enrollment token's use limit.
const MaxEnrollUses = 100_000

// checkEnrollUse refuses enrolling a new device with a token that has
// enrolled as many devices as it may, or that names the Device Codes it may
// enroll and not this one: a leaked token then cannot enroll a fleet, and a
// squatter cannot take a Device Code the token was made for (issue 13,
// finding 6). A device enrolling again with its own key is not a new use.
func checkEnrollUse(t *EnrollToken, code string) Result {
	if len(t.Devices) > 0 && !slices.ContainsFunc(t.Devices, func(d string) bool { return strings.EqualFold(d, code) }) {
		return fail(protocol.CodeEnrollTokenUsedUp, "enrollment token %s may enroll only %s, not %s", t.ID, strings.Join(t.Devices, ", "), code)
	}
	if t.MaxUses > 0 && t.Uses >= t.MaxUses {
		return fail(protocol.CodeEnrollTokenUsedUp, "enrollment token %s has enrolled its %d device(s); create another (tallyctl enroll-tokens create --uses N)", t.ID, t.MaxUses)
	}
	return Result{}
}

// checkEnrollLimits refuses a token created with a use limit or device
// list that makes no sense.
func checkEnrollLimits(t *EnrollToken) Result {
	if t.MaxUses < 0 || t.MaxUses > MaxEnrollUses {
		return fail(protocol.CodeInvalidArgument, "an enrollment token's uses must be between 1 and %d, not %d", MaxEnrollUses, t.MaxUses)
	}
	if len(t.Devices) > MaxEnrollUses {
		return fail(protocol.CodeInvalidArgument, "an enrollment token may name at most %d devices", MaxEnrollUses)
	}
	for _, d := range t.Devices {
		if !ValidID(d) {
			return fail(protocol.CodeInvalidArgument, "Device Code %q must be 1-64 letters, digits, '.', '_' or '-'", d)
		}
	}
	return Result{}
}
