//! The config registry (docs/config.md): what a runtime configuration
//! document is called (`{domain, name, scope}`), what is known of each of
//! its revisions, the typed document of every domain with the rules a
//! schema cannot say, and the pieces a plan shows (diff, impact).

mod docs;
mod lines;
#[cfg(test)]
mod tests;
mod validate;

pub use docs::{Activation, Definition, DefinitionKind, Flags, FLAGS};
pub use lines::pointer_lines;
pub use validate::{validate, Context};

use crate::fleet::{ServiceKind, TenantId};
use crate::ids::JobId;
use crate::views::DocSource;
use serde::{Deserialize, Serialize};
use std::fmt;

/// What a document configures. Each domain fixes its names and scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Domain {
    /// The Gateway's shard directory (one document).
    Routing,
    /// One placement map per worker kind (scope `kind:<kind>`).
    Placement,
    /// The control plane's feature flags (one document).
    Flags,
    /// Runner definitions (effects and sagas), one document per name.
    Definitions,
    /// Which definitions are active: platform-wide, per kind, per tenant.
    Activation,
    /// The safety gates' thresholds (one document).
    Gates,
}

impl Domain {
    pub const ALL: [Domain; 6] = [
        Self::Routing,
        Self::Placement,
        Self::Flags,
        Self::Definitions,
        Self::Activation,
        Self::Gates,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Routing => "routing",
            Self::Placement => "placement",
            Self::Flags => "flags",
            Self::Definitions => "definitions",
            Self::Activation => "activation",
            Self::Gates => "gates",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == s)
    }

    /// The one name a domain's document has (`None`: free names).
    pub fn fixed_name(self) -> Option<&'static str> {
        match self {
            Self::Routing => Some("routing"),
            Self::Placement => Some("placement"),
            Self::Flags => Some("control"),
            Self::Definitions => None,
            Self::Activation => Some("activation"),
            Self::Gates => Some("thresholds"),
        }
    }

    /// Whether the routing of tenants depends on it (a change must be
    /// reloaded by the fleet and verified against the gateways).
    pub fn is_fleet(self) -> bool {
        matches!(self, Self::Routing | Self::Placement)
    }

    fn allows(self, scope: &Scope) -> bool {
        match (self, scope) {
            (Self::Placement, Scope::Kind(k)) => k.placement_key().is_some(),
            (Self::Placement, _) => false,
            (Self::Activation, Scope::Kind(k)) => *k == ServiceKind::Runner,
            (Self::Activation, _) => true,
            (_, Scope::Platform) => true,
            _ => false,
        }
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a document applies: the whole platform, one service kind, one
/// tenant. On the wire `platform`, `kind:<kind>`, `tenant:<id>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    Platform,
    Kind(ServiceKind),
    Tenant(TenantId),
}

impl Scope {
    pub fn parse(s: &str) -> Result<Self, String> {
        if s == "platform" {
            return Ok(Self::Platform);
        }
        if let Some(k) = s.strip_prefix("kind:") {
            return ServiceKind::parse(k)
                .map(Self::Kind)
                .ok_or_else(|| "scope: not a service kind after kind:".to_owned());
        }
        if let Some(t) = s.strip_prefix("tenant:") {
            return TenantId::parse(t)
                .map(Self::Tenant)
                .map_err(|i| format!("scope: {}", i.message));
        }
        Err("scope: platform, kind:<kind> or tenant:<id>".into())
    }

    /// One store-key token (`platform`, `kind=runner`, `tenant=acme`).
    pub fn token(&self) -> String {
        match self {
            Self::Platform => "platform".into(),
            Self::Kind(k) => format!("kind={k}"),
            Self::Tenant(t) => format!("tenant={t}"),
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Platform => f.write_str("platform"),
            Self::Kind(k) => write!(f, "kind:{k}"),
            Self::Tenant(t) => write!(f, "tenant:{t}"),
        }
    }
}

impl Serialize for Scope {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Scope::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Scope {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(
                "^(platform|kind:(gateway|aggregate|projection|runner)|tenant:[a-z0-9-]{1,63})$",
            ))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Scope {}

/// A document name: 1-64 of `[a-z0-9_-]`, starting with a letter or digit.
pub fn check_name(s: &str) -> Result<(), String> {
    let ok = (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && s.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err("name: 1-64 of a-z 0-9 _ -, starting with a letter or digit".into())
    }
}

/// A document's identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConfigId {
    pub domain: Domain,
    pub name: String,
    pub scope: Scope,
}

impl ConfigId {
    /// Checks the name and scope against the domain's rules.
    pub fn new(domain: Domain, name: &str, scope: Scope) -> Result<Self, String> {
        check_name(name)?;
        if let Some(fixed) = domain.fixed_name() {
            if name != fixed {
                return Err(format!("name: a {domain} document is named {fixed:?}"));
            }
        }
        if !domain.allows(&scope) {
            return Err(format!(
                "scope: {scope} is not a scope of {domain} documents"
            ));
        }
        Ok(Self {
            domain,
            name: name.to_owned(),
            scope,
        })
    }

    pub fn routing() -> Self {
        Self::of(Domain::Routing, Scope::Platform)
    }

    /// The placement map of a worker kind.
    pub fn placement(kind: ServiceKind) -> Self {
        Self::of(Domain::Placement, Scope::Kind(kind))
    }

    pub fn flags() -> Self {
        Self::of(Domain::Flags, Scope::Platform)
    }

    pub fn gates() -> Self {
        Self::of(Domain::Gates, Scope::Platform)
    }

    fn of(domain: Domain, scope: Scope) -> Self {
        Self {
            domain,
            name: domain.fixed_name().unwrap_or_default().to_owned(),
            scope,
        }
    }

    /// Dot-separated store-key tokens: `<domain>.<scope>.<name>`.
    pub fn key(&self) -> String {
        format!("{}.{}.{}", self.domain, self.scope.token(), self.name)
    }
}

impl fmt::Display for ConfigId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}@{}", self.domain, self.name, self.scope)
    }
}

impl<'de> Deserialize<'de> for ConfigId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            domain: Domain,
            name: String,
            #[serde(default = "platform")]
            scope: Scope,
        }
        fn platform() -> Scope {
            Scope::Platform
        }
        let r = Raw::deserialize(d)?;
        ConfigId::new(r.domain, &r.name, r.scope).map_err(serde::de::Error::custom)
    }
}

/// What is known of one revision. A revision written outside the registry
/// (an independent writer, an older control plane) has only its revision
/// and digest: who, when and why are `None`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RevisionMeta {
    pub revision: u64,
    /// SHA-256 (hex) of the canonical document (`canonical_json`).
    pub sha256: String,
    #[serde(default)]
    pub updated_by: Option<String>,
    #[serde(default)]
    pub updated_at_ms: Option<u64>,
    /// The job that wrote it.
    #[serde(default)]
    pub job: Option<JobId>,
    #[serde(default)]
    pub reason: Option<String>,
    /// Whether the document of this revision is still kept (the store
    /// keeps a bounded number of revisions; metadata outlives them).
    #[serde(default = "yes")]
    pub kept: bool,
}

fn yes() -> bool {
    true
}

/// A rollback's pin: applies are refused until an operator unpins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Pin {
    pub by: String,
    pub at_ms: u64,
    pub reason: String,
    /// The revision the rollback wrote.
    pub revision: u64,
    #[serde(default)]
    pub job: Option<JobId>,
}

/// One document in a listing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConfigSummary {
    pub id: ConfigId,
    pub meta: RevisionMeta,
    pub source: DocSource,
    #[serde(default)]
    pub pinned: Option<Pin>,
}

/// A document at one revision, with what is known of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConfigDocument {
    #[serde(flatten)]
    pub summary: ConfigSummary,
    pub document: serde_json::Value,
    /// The newest revision (this one may be older, `?revision=`).
    pub current_revision: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConfigList {
    pub items: Vec<ConfigSummary>,
}

/// Every known revision, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConfigHistory {
    pub id: ConfigId,
    pub revisions: Vec<RevisionMeta>,
}

/// A runner definition as the Definitions page lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DefinitionView {
    pub name: String,
    /// `None` when the stored document is not a valid definition.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub definition: Option<Definition>,
    pub meta: RevisionMeta,
    /// The activation documents that name it.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub active_in: Vec<Scope>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DefinitionList {
    pub items: Vec<DefinitionView>,
}

/// One problem in a document: a stable code, where (RFC 6901 JSON
/// pointer), a sentence, and the line of the submitted text when known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConfigIssue {
    pub code: String,
    pub pointer: String,
    pub message: String,
    #[serde(default)]
    pub line: Option<u32>,
}

impl ConfigIssue {
    pub fn new(code: &str, pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.to_owned(),
            pointer: pointer.into(),
            message: message.into(),
            line: None,
        }
    }
}

/// The stable codes of validation issues (docs/config.md lists them).
pub mod code {
    /// The text is not JSON.
    pub const SYNTAX: &str = "syntax";
    /// The JSON Schema of the domain refuses the value.
    pub const SCHEMA: &str = "schema";
    pub const BAD_SHARD_ID: &str = "bad_shard_id";
    pub const BAD_TENANT_ID: &str = "bad_tenant_id";
    pub const EMPTY_ENDPOINTS: &str = "empty_endpoints";
    pub const MALFORMED_URL: &str = "malformed_url";
    pub const DUPLICATE_ENDPOINT: &str = "duplicate_endpoint";
    /// A placement names a shard routing does not have.
    pub const UNKNOWN_SHARD: &str = "unknown_shard";
    /// A placement sends tenants to a disabled shard.
    pub const SHARD_DISABLED: &str = "shard_disabled";
    /// Routing drops a shard that a placement still names.
    pub const SHARD_IN_USE: &str = "shard_in_use";
    /// A tenant the platform knows is left without a shard (no default).
    pub const UNPLACED_TENANT: &str = "unplaced_tenant";
    pub const UNKNOWN_DEFINITION: &str = "unknown_definition";
    pub const UNKNOWN_FLAG: &str = "unknown_flag";
    pub const FLAG_TYPE: &str = "flag_type";
    /// A threshold out of its range.
    pub const OUT_OF_RANGE: &str = "out_of_range";

    pub const ALL: [&str; 15] = [
        SYNTAX,
        SCHEMA,
        BAD_SHARD_ID,
        BAD_TENANT_ID,
        EMPTY_ENDPOINTS,
        MALFORMED_URL,
        DUPLICATE_ENDPOINT,
        UNKNOWN_SHARD,
        SHARD_DISABLED,
        SHARD_IN_USE,
        UNPLACED_TENANT,
        UNKNOWN_DEFINITION,
        UNKNOWN_FLAG,
        FLAG_TYPE,
        OUT_OF_RANGE,
    ];
}

/// `POST /admin/v1/config/validate`: the document as text (so a syntax
/// error has a line) or as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ValidateRequest {
    pub domain: Domain,
    pub name: String,
    #[serde(default = "platform_scope")]
    pub scope: Scope,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub document: Option<serde_json::Value>,
}

fn platform_scope() -> Scope {
    Scope::Platform
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Validation {
    pub valid: bool,
    pub issues: Vec<ConfigIssue>,
    /// The canonical document's SHA-256 when it parsed.
    #[serde(default)]
    pub sha256: Option<String>,
}

/// The input of a `config.apply` job (and its plan).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ApplyInput {
    pub domain: Domain,
    pub name: String,
    #[serde(default = "platform_scope")]
    pub scope: Scope,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub document: serde_json::Value,
    /// The revision the change was made against (filled in by the plan
    /// with the current one when absent).
    #[serde(default)]
    pub base_revision: Option<u64>,
}

/// The input of a `config.rollback` job: back to `to_revision`, or to the
/// revision before the current one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RollbackInput {
    pub domain: Domain,
    pub name: String,
    #[serde(default = "platform_scope")]
    pub scope: Scope,
    #[serde(default)]
    pub to_revision: Option<u64>,
    #[serde(default)]
    pub base_revision: Option<u64>,
}

/// `POST /admin/v1/config/{domain}/{name}/unpin`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UnpinRequest {
    pub reason: String,
}

/// One line of a readable diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DiffLine {
    /// `equal`, `insert` or `delete`; `gap` stands for unchanged lines left out.
    pub tag: String,
    #[serde(default)]
    pub old: Option<u32>,
    #[serde(default)]
    pub new: Option<u32>,
    pub text: String,
}

/// Two revisions compared: RFC 6902 operations and a line diff of the
/// pretty canonical documents (unchanged runs cut to 3 lines of context).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConfigDiff {
    pub from_sha256: String,
    pub to_sha256: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub patch: Vec<serde_json::Value>,
    pub lines: Vec<DiffLine>,
    pub added: u32,
    pub removed: u32,
}

/// A tenant whose shard a change moves.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TenantMove {
    pub kind: ServiceKind,
    pub tenant: TenantId,
    pub from: Option<String>,
    pub to: Option<String>,
}

/// Who a change reaches.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Impact {
    /// Tenants whose shard changes (all counted, the first 100 listed).
    pub tenants_moved: u64,
    pub moves: Vec<TenantMove>,
    /// Tenants whose resolution changes (shard, state or endpoints).
    pub tenants_changed: u64,
    /// The largest share of one shard's tenants that the change moves.
    pub max_shard_fraction: f64,
    /// Shards that receive tenants.
    pub receiving_shards: Vec<String>,
    /// Service instances that must load the change (`kind/shard endpoint`
    /// or `control plane`).
    pub reload: Vec<String>,
}

/// What a config plan adds to a plan: the document change and its reach.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConfigChange {
    pub id: ConfigId,
    pub base_revision: u64,
    pub diff: ConfigDiff,
    pub impact: Impact,
}

/// The canonical form of a JSON value: object keys sorted at every level,
/// no whitespace. Its SHA-256 identifies a document's content whatever the
/// source's formatting.
pub fn canonical_json(v: &serde_json::Value) -> String {
    fn write(v: &serde_json::Value, out: &mut Vec<u8>) {
        match v {
            serde_json::Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                // serde_json's map is sorted unless `preserve_order` is on.
                if !keys.is_sorted() {
                    keys.sort();
                }
                out.push(b'{');
                for (i, k) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    let _ = serde_json::to_writer(&mut *out, k);
                    out.push(b':');
                    write(&m[k], out);
                }
                out.push(b'}');
            }
            serde_json::Value::Array(a) => {
                out.push(b'[');
                for (i, x) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write(x, out);
                }
                out.push(b']');
            }
            other => {
                let _ = serde_json::to_writer(&mut *out, other);
            }
        }
    }
    let mut out = Vec::new();
    write(v, &mut out);
    // Only JSON text was written: always UTF-8.
    String::from_utf8(out).unwrap_or_default()
}

/// SHA-256 (hex) of the canonical document.
pub fn sha256(v: &serde_json::Value) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(canonical_json(v).as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `GET /admin/v1/config`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
#[serde(default, deny_unknown_fields)]
pub struct ListQuery {
    /// Only this domain's documents.
    #[cfg_attr(feature = "openapi", param(inline))]
    pub domain: Option<Domain>,
    /// Only documents of this scope (`platform`, `kind:<kind>`, `tenant:<id>`).
    pub scope: Option<String>,
}

/// One document (`GET /admin/v1/config/{domain}/{name}` and its history).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
#[serde(default, deny_unknown_fields)]
pub struct DocQuery {
    /// The document's scope; `platform` when absent (placement: `kind:<kind>`).
    pub scope: Option<String>,
    /// An older revision (while its document is kept).
    pub revision: Option<u64>,
}

/// `GET /admin/v1/config/{domain}/{name}/diff`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
#[serde(default, deny_unknown_fields)]
pub struct DiffQuery {
    pub scope: Option<String>,
    /// Default: the revision before `to`.
    pub from: Option<u64>,
    /// Default: the current revision.
    pub to: Option<u64>,
}
