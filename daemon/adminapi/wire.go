package adminapi

import wire "github.com/tally-licensing/tally/protocol/api"

// The admin API's wire types live in protocol/api, the client-side package
// tallyctl builds on (so it links none of the server). These aliases keep
// the server's code reading as before.

type (
	StatusResponse       = wire.StatusResponse
	LeaseView            = wire.LeaseView
	CreateAccountRequest = wire.CreateAccountRequest
	SetPoolRequest       = wire.SetPoolRequest
	CreateTokenRequest   = wire.CreateTokenRequest
	TokenResponse        = wire.TokenResponse
	ErrorBody            = wire.ErrorBody
	AuditPage            = wire.AuditPage
	UsageReport          = wire.UsageReport
	UsageHistory         = wire.UsageHistory
	UsagePoint           = wire.UsagePoint
	Backup               = wire.Backup
	BackupSecrets        = wire.BackupSecrets
	BackupRequest        = wire.BackupRequest
	ClusterMember        = wire.ClusterMember
	ClusterView          = wire.ClusterView
	JoinBundleRequest    = wire.JoinBundleRequest
	JoinBundle           = wire.JoinBundle
	AddNodeRequest       = wire.AddNodeRequest
	TransferRequest      = wire.TransferRequest
	SetProductRequest    = wire.SetProductRequest
	AssignRequest        = wire.AssignRequest
	LicenseChangeRequest = wire.LicenseChangeRequest
	ImportRequest        = wire.ImportRequest
	ExportResponse       = wire.ExportResponse
	MemberRequest        = wire.MemberRequest
	SignInResponse       = wire.SignInResponse
	PolicyRequest        = wire.PolicyRequest
	PolicyView           = wire.PolicyView
	DeviceOpRequest      = wire.DeviceOpRequest
	EventsView           = wire.EventsView
	SessionRequest       = wire.SessionRequest
	SessionResponse      = wire.SessionResponse
)

const (
	BackupVersion          = wire.BackupVersion
	HeaderNode             = wire.HeaderNode
	HeaderRaftState        = wire.HeaderRaftState
	HeaderLeader           = wire.HeaderLeader
	HeaderAppliedIndex     = wire.HeaderAppliedIndex
	HeaderLastContact      = wire.HeaderLastContact
	HeaderConsistency      = wire.HeaderConsistency
	HeaderMinIndex         = wire.HeaderMinIndex
	HeaderIdempotencyKey   = wire.HeaderIdempotencyKey
	HeaderIdempotentReplay = wire.HeaderIdempotentReplay
	ConsistencyLeader      = wire.ConsistencyLeader
	ConsistencyLocal       = wire.ConsistencyLocal
)
