//! Schema definitions for User, the enterprise User extension and Group (RFC 7643 §4, §8.7.1).
//!
//! One table drives everything: `/Schemas`, request validation, PATCH targets, attribute
//! projection and the filter-to-SQL mapping, so what `/Schemas` advertises is what the server
//! does.

use serde_json::{Map, Value, json};

/// Core User schema URN.
pub const USER_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// Core Group schema URN.
pub const GROUP_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// Enterprise User extension URN (RFC 7643 §4.3).
pub const ENTERPRISE_USER_URN: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// Attribute data types (RFC 7643 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    /// JSON string.
    String,
    /// JSON boolean.
    Boolean,
    /// JSON number with a fraction allowed.
    Decimal,
    /// JSON number without fraction.
    Integer,
    /// xsd:dateTime string.
    DateTime,
    /// base64 string.
    Binary,
    /// URI string.
    Reference,
    /// Object with sub-attributes.
    Complex,
}

impl AttrType {
    fn as_str(self) -> &'static str {
        match self {
            AttrType::String => "string",
            AttrType::Boolean => "boolean",
            AttrType::Decimal => "decimal",
            AttrType::Integer => "integer",
            AttrType::DateTime => "dateTime",
            AttrType::Binary => "binary",
            AttrType::Reference => "reference",
            AttrType::Complex => "complex",
        }
    }
}

/// RFC 7643 §2.2 `mutability`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    /// Set by the server only.
    ReadOnly,
    /// Freely writable.
    ReadWrite,
    /// Writable once.
    Immutable,
    /// Writable, never returned.
    WriteOnly,
}

/// RFC 7643 §2.2 `returned`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    /// Always returned, even when excluded.
    Always,
    /// Never returned.
    Never,
    /// Returned unless excluded.
    Default,
    /// Returned only when requested with `attributes`.
    Request,
}

/// One attribute definition.
#[derive(Debug, Clone, Copy)]
pub struct AttributeDef {
    /// Canonical name.
    pub name: &'static str,
    /// Data type.
    pub attr_type: AttrType,
    /// Multi-valued (a JSON array).
    pub multi_valued: bool,
    /// Description for `/Schemas`.
    pub description: &'static str,
    /// Required on create/replace.
    pub required: bool,
    /// Case-sensitive comparison.
    pub case_exact: bool,
    /// Mutability.
    pub mutability: Mutability,
    /// Returned.
    pub returned: Returned,
    /// `server` uniqueness (only `userName`).
    pub unique: bool,
    /// Suggested values.
    pub canonical_values: &'static [&'static str],
    /// For `reference` attributes.
    pub reference_types: &'static [&'static str],
    /// Sub-attributes of a complex attribute.
    pub sub_attributes: &'static [AttributeDef],
}

impl AttributeDef {
    const fn new(name: &'static str, attr_type: AttrType, description: &'static str) -> Self {
        Self {
            name,
            attr_type,
            multi_valued: false,
            description,
            required: false,
            case_exact: false,
            mutability: Mutability::ReadWrite,
            returned: Returned::Default,
            unique: false,
            canonical_values: &[],
            reference_types: &[],
            sub_attributes: &[],
        }
    }
    const fn multi(mut self) -> Self {
        self.multi_valued = true;
        self
    }
    const fn required(mut self) -> Self {
        self.required = true;
        self
    }
    const fn case_exact(mut self) -> Self {
        self.case_exact = true;
        self
    }
    const fn mutability(mut self, m: Mutability) -> Self {
        self.mutability = m;
        self
    }
    const fn returned(mut self, r: Returned) -> Self {
        self.returned = r;
        self
    }
    const fn unique(mut self) -> Self {
        self.unique = true;
        self
    }
    const fn canonical(mut self, v: &'static [&'static str]) -> Self {
        self.canonical_values = v;
        self
    }
    const fn refs(mut self, v: &'static [&'static str]) -> Self {
        self.reference_types = v;
        self
    }
    const fn subs(mut self, v: &'static [AttributeDef]) -> Self {
        self.sub_attributes = v;
        self
    }

    /// The sub-attribute with this name (case-insensitive).
    pub fn sub_attribute(&self, name: &str) -> Option<&'static AttributeDef> {
        find(self.sub_attributes, name)
    }

    /// The attribute as a `/Schemas` JSON object (RFC 7643 §7).
    pub fn to_json(&self) -> Value {
        let mut obj = Map::new();
        obj.insert("name".into(), json!(self.name));
        obj.insert("type".into(), json!(self.attr_type.as_str()));
        obj.insert("multiValued".into(), json!(self.multi_valued));
        obj.insert("description".into(), json!(self.description));
        obj.insert("required".into(), json!(self.required));
        if !self.canonical_values.is_empty() {
            obj.insert("canonicalValues".into(), json!(self.canonical_values));
        }
        if matches!(self.attr_type, AttrType::String | AttrType::Reference | AttrType::Binary) {
            obj.insert("caseExact".into(), json!(self.case_exact));
        }
        let mutability = match self.mutability {
            Mutability::ReadOnly => "readOnly",
            Mutability::ReadWrite => "readWrite",
            Mutability::Immutable => "immutable",
            Mutability::WriteOnly => "writeOnly",
        };
        obj.insert("mutability".into(), json!(mutability));
        let returned = match self.returned {
            Returned::Always => "always",
            Returned::Never => "never",
            Returned::Default => "default",
            Returned::Request => "request",
        };
        obj.insert("returned".into(), json!(returned));
        if self.attr_type != AttrType::Complex && self.attr_type != AttrType::Boolean {
            obj.insert("uniqueness".into(), json!(if self.unique { "server" } else { "none" }));
        }
        if !self.reference_types.is_empty() {
            obj.insert("referenceTypes".into(), json!(self.reference_types));
        }
        if !self.sub_attributes.is_empty() {
            let subs: Vec<Value> = self.sub_attributes.iter().map(AttributeDef::to_json).collect();
            obj.insert("subAttributes".into(), Value::Array(subs));
        }
        Value::Object(obj)
    }
}

/// Finds an attribute by case-insensitive name (RFC 7643 §2.1: names are case-insensitive).
pub fn find(attrs: &'static [AttributeDef], name: &str) -> Option<&'static AttributeDef> {
    attrs.iter().find(|a| a.name.eq_ignore_ascii_case(name))
}

/// A schema: URN, name and attributes.
#[derive(Debug)]
pub struct SchemaDef {
    /// Schema URN.
    pub id: &'static str,
    /// Human name.
    pub name: &'static str,
    /// Description.
    pub description: &'static str,
    /// Attributes (common attributes `id`, `externalId`, `meta` are listed on core schemas).
    pub attributes: &'static [AttributeDef],
}

impl SchemaDef {
    /// The attribute with this name (case-insensitive).
    pub fn attribute(&self, name: &str) -> Option<&'static AttributeDef> {
        find(self.attributes, name)
    }

    /// `/Schemas/{id}` representation (RFC 7643 §7), `location` relative to `base`.
    pub fn to_json(&self, base: &str) -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "attributes": self.attributes.iter().map(AttributeDef::to_json).collect::<Vec<_>>(),
            "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{}", self.id)},
        })
    }
}

use AttrType::{Binary, Boolean, Complex, DateTime, Reference, String as Str};
use Mutability::{Immutable, ReadOnly, WriteOnly};

const TYPE_WORK_HOME_OTHER: &[&str] = &["work", "home", "other"];

const ID: AttributeDef =
    AttributeDef::new("id", Str, "Unique identifier for the resource, assigned by the service provider.")
        .case_exact()
        .mutability(ReadOnly)
        .returned(Returned::Always)
        .unique();
const EXTERNAL_ID: AttributeDef =
    AttributeDef::new("externalId", Str, "Identifier of the resource as defined by the provisioning client.")
        .case_exact();
const META_SUBS: &[AttributeDef] = &[
    AttributeDef::new("resourceType", Str, "Name of the resource type.").case_exact().mutability(ReadOnly),
    AttributeDef::new("created", DateTime, "When the resource was added.").mutability(ReadOnly),
    AttributeDef::new("lastModified", DateTime, "When the resource was last updated.").mutability(ReadOnly),
    AttributeDef::new("location", Reference, "URI of the resource.")
        .case_exact()
        .mutability(ReadOnly)
        .refs(&["uri"]),
    AttributeDef::new("version", Str, "Entity tag of the resource version.")
        .case_exact()
        .mutability(ReadOnly),
];
const META: AttributeDef =
    AttributeDef::new("meta", Complex, "Resource metadata.").mutability(ReadOnly).subs(META_SUBS);

const fn multi_subs(value_type: AttrType, types: &'static [&'static str]) -> [AttributeDef; 4] {
    [
        AttributeDef::new("value", value_type, "The value."),
        AttributeDef::new("display", Str, "A human-readable name, primarily for display."),
        AttributeDef::new("type", Str, "A label indicating the attribute's function.").canonical(types),
        AttributeDef::new("primary", Boolean, "Whether this is the preferred value; true at most once."),
    ]
}
const EMAIL_SUBS: [AttributeDef; 4] = multi_subs(Str, TYPE_WORK_HOME_OTHER);
const PHONE_SUBS: [AttributeDef; 4] = multi_subs(Str, &["work", "home", "mobile", "fax", "pager", "other"]);
const IMS_SUBS: [AttributeDef; 4] =
    multi_subs(Str, &["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"]);
const PHOTO_SUBS: [AttributeDef; 4] = [
    AttributeDef::new("value", Reference, "URL of a photo of the user.").case_exact().refs(&["external"]),
    AttributeDef::new("display", Str, "A human-readable name, primarily for display."),
    AttributeDef::new("type", Str, "A label indicating the attribute's function.")
        .canonical(&["photo", "thumbnail"]),
    AttributeDef::new("primary", Boolean, "Whether this is the preferred value; true at most once."),
];
const PLAIN_SUBS: [AttributeDef; 4] = multi_subs(Str, &[]);
const CERT_SUBS: [AttributeDef; 4] = [
    AttributeDef::new("value", Binary, "The DER-encoded certificate, base64.").case_exact(),
    AttributeDef::new("display", Str, "A human-readable name, primarily for display."),
    AttributeDef::new("type", Str, "A label indicating the attribute's function."),
    AttributeDef::new("primary", Boolean, "Whether this is the preferred value; true at most once."),
];
const NAME_SUBS: &[AttributeDef] = &[
    AttributeDef::new("formatted", Str, "The full name, formatted for display."),
    AttributeDef::new("familyName", Str, "The family name."),
    AttributeDef::new("givenName", Str, "The given name."),
    AttributeDef::new("middleName", Str, "The middle name(s)."),
    AttributeDef::new("honorificPrefix", Str, "Honorific prefix, e.g. 'Ms.'."),
    AttributeDef::new("honorificSuffix", Str, "Honorific suffix, e.g. 'III'."),
];
const ADDRESS_SUBS: &[AttributeDef] = &[
    AttributeDef::new("formatted", Str, "The full mailing address."),
    AttributeDef::new("streetAddress", Str, "Street address."),
    AttributeDef::new("locality", Str, "City or locality."),
    AttributeDef::new("region", Str, "State or region."),
    AttributeDef::new("postalCode", Str, "Zip code or postal code."),
    AttributeDef::new("country", Str, "Country, ISO 3166-1 alpha-2."),
    AttributeDef::new("type", Str, "A label indicating the attribute's function.")
        .canonical(TYPE_WORK_HOME_OTHER),
    AttributeDef::new("primary", Boolean, "Whether this is the preferred value; true at most once."),
];
const USER_GROUP_SUBS: &[AttributeDef] = &[
    AttributeDef::new("value", Str, "The id of the group.").mutability(ReadOnly),
    AttributeDef::new("$ref", Reference, "The URI of the group.")
        .case_exact()
        .mutability(ReadOnly)
        .refs(&["Group"]),
    AttributeDef::new("display", Str, "The group's displayName.").mutability(ReadOnly),
    AttributeDef::new("type", Str, "Membership type: direct.")
        .mutability(ReadOnly)
        .canonical(&["direct", "indirect"]),
];

/// Core User attributes (RFC 7643 §4.1), with the common attributes first.
pub static USER_ATTRIBUTES: &[AttributeDef] = &[
    ID,
    EXTERNAL_ID,
    META,
    AttributeDef::new("userName", Str, "Unique identifier for the user, case-insensitive.")
        .required()
        .unique(),
    AttributeDef::new("name", Complex, "The components of the user's name.").subs(NAME_SUBS),
    AttributeDef::new("displayName", Str, "The name of the user, suitable for display."),
    AttributeDef::new("nickName", Str, "The casual way to address the user."),
    AttributeDef::new("profileUrl", Reference, "A URI to the user's online profile.").refs(&["external"]),
    AttributeDef::new("title", Str, "The user's title, such as 'Vice President'."),
    AttributeDef::new("userType", Str, "The relationship between the organization and the user."),
    AttributeDef::new("preferredLanguage", Str, "The user's preferred language (RFC 7231 Accept-Language)."),
    AttributeDef::new("locale", Str, "The user's default location, e.g. 'en-US'."),
    AttributeDef::new("timezone", Str, "The user's time zone, IANA format."),
    AttributeDef::new("active", Boolean, "The user's administrative status; false deactivates."),
    AttributeDef::new("password", Str, "Accepted and discarded: scimgate stores no passwords.")
        .mutability(WriteOnly)
        .returned(Returned::Never),
    AttributeDef::new("emails", Complex, "Email addresses for the user.").multi().subs(&EMAIL_SUBS),
    AttributeDef::new("phoneNumbers", Complex, "Phone numbers for the user.").multi().subs(&PHONE_SUBS),
    AttributeDef::new("ims", Complex, "Instant messaging addresses for the user.").multi().subs(&IMS_SUBS),
    AttributeDef::new("photos", Complex, "URLs of photos of the user.").multi().subs(&PHOTO_SUBS),
    AttributeDef::new("addresses", Complex, "Physical mailing addresses.").multi().subs(ADDRESS_SUBS),
    AttributeDef::new(
        "groups",
        Complex,
        "Groups the user belongs to (read-only; change membership through Groups).",
    )
    .multi()
    .mutability(ReadOnly)
    .subs(USER_GROUP_SUBS),
    AttributeDef::new("entitlements", Complex, "Entitlements of the user.").multi().subs(&PLAIN_SUBS),
    AttributeDef::new("roles", Complex, "Roles of the user.").multi().subs(&PLAIN_SUBS),
    AttributeDef::new("x509Certificates", Complex, "Certificates of the user.").multi().subs(&CERT_SUBS),
];

const MANAGER_SUBS: &[AttributeDef] = &[
    AttributeDef::new("value", Str, "The id of the manager's User."),
    AttributeDef::new("$ref", Reference, "The URI of the manager's User.").case_exact().refs(&["User"]),
    AttributeDef::new("displayName", Str, "The manager's displayName.").mutability(ReadOnly),
];

/// Enterprise User extension attributes (RFC 7643 §4.3).
pub static ENTERPRISE_USER_ATTRIBUTES: &[AttributeDef] = &[
    AttributeDef::new("employeeNumber", Str, "Numeric or alphanumeric identifier assigned to a person."),
    AttributeDef::new("costCenter", Str, "Name of a cost center."),
    AttributeDef::new("organization", Str, "Name of an organization."),
    AttributeDef::new("division", Str, "Name of a division."),
    AttributeDef::new("department", Str, "Name of a department."),
    AttributeDef::new("manager", Complex, "The user's manager.").subs(MANAGER_SUBS),
];

const MEMBER_SUBS: &[AttributeDef] = &[
    AttributeDef::new("value", Str, "The id of the member (a User or a Group).")
        .case_exact()
        .mutability(Immutable),
    AttributeDef::new("$ref", Reference, "The URI of the member.")
        .case_exact()
        .mutability(Immutable)
        .refs(&["User", "Group"]),
    AttributeDef::new("display", Str, "A human-readable name for the member, stored as the client sent it.")
        .mutability(Immutable),
    AttributeDef::new("type", Str, "The member's resource type.")
        .mutability(Immutable)
        .canonical(&["User", "Group"]),
];

/// Core Group attributes (RFC 7643 §4.2).
pub static GROUP_ATTRIBUTES: &[AttributeDef] = &[
    ID,
    EXTERNAL_ID,
    META,
    AttributeDef::new("displayName", Str, "A human-readable name for the group.").required(),
    AttributeDef::new("members", Complex, "Members of the group.").multi().subs(MEMBER_SUBS),
];

/// The core User schema.
pub static USER_SCHEMA: SchemaDef =
    SchemaDef { id: USER_URN, name: "User", description: "User Account", attributes: USER_ATTRIBUTES };
/// The enterprise User extension schema.
pub static ENTERPRISE_USER_SCHEMA: SchemaDef = SchemaDef {
    id: ENTERPRISE_USER_URN,
    name: "EnterpriseUser",
    description: "Enterprise User",
    attributes: ENTERPRISE_USER_ATTRIBUTES,
};
/// The core Group schema.
pub static GROUP_SCHEMA: SchemaDef =
    SchemaDef { id: GROUP_URN, name: "Group", description: "Group", attributes: GROUP_ATTRIBUTES };

/// Extensions of User.
static USER_EXTENSIONS: [&SchemaDef; 1] = [&ENTERPRISE_USER_SCHEMA];

/// Every schema served at `/Schemas`.
pub static ALL_SCHEMAS: [&SchemaDef; 3] = [&USER_SCHEMA, &ENTERPRISE_USER_SCHEMA, &GROUP_SCHEMA];

/// The two resource types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    /// `/Users`.
    User,
    /// `/Groups`.
    Group,
}

impl ResourceKind {
    /// Core schema.
    pub fn schema(self) -> &'static SchemaDef {
        match self {
            ResourceKind::User => &USER_SCHEMA,
            ResourceKind::Group => &GROUP_SCHEMA,
        }
    }
    /// Extension schemas this type accepts.
    pub fn extensions(self) -> &'static [&'static SchemaDef] {
        match self {
            ResourceKind::User => &USER_EXTENSIONS,
            ResourceKind::Group => &[],
        }
    }
    /// The extension schema with this URN (case-insensitive).
    pub fn extension(self, urn: &str) -> Option<&'static SchemaDef> {
        self.extensions().iter().copied().find(|s| s.id.eq_ignore_ascii_case(urn))
    }
    /// `meta.resourceType` and the ResourceType id.
    pub fn name(self) -> &'static str {
        match self {
            ResourceKind::User => "User",
            ResourceKind::Group => "Group",
        }
    }
    /// The endpoint segment.
    pub fn endpoint(self) -> &'static str {
        match self {
            ResourceKind::User => "Users",
            ResourceKind::Group => "Groups",
        }
    }
    /// `/ResourceTypes/{name}` representation (RFC 7643 §6).
    pub fn resource_type_json(self, base: &str) -> Value {
        let extensions: Vec<Value> =
            self.extensions().iter().map(|s| json!({"schema": s.id, "required": false})).collect();
        let mut v = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": self.name(),
            "name": self.name(),
            "endpoint": format!("/{}", self.endpoint()),
            "description": self.schema().description,
            "schema": self.schema().id,
            "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/{}", self.name())},
        });
        if !extensions.is_empty()
            && let Some(obj) = v.as_object_mut()
        {
            obj.insert("schemaExtensions".into(), Value::Array(extensions));
        }
        v
    }
}

/// Where an attribute lives: in the core schema or inside an extension object.
#[derive(Debug, Clone, Copy)]
pub struct Resolved {
    /// `Some(urn)` when the attribute is inside the extension object of that URN.
    pub extension: Option<&'static SchemaDef>,
    /// The attribute.
    pub attr: &'static AttributeDef,
    /// The sub-attribute, when the path names one.
    pub sub: Option<&'static AttributeDef>,
}

impl Resolved {
    /// The attribute the path finally names (sub-attribute if any).
    pub fn target(&self) -> &'static AttributeDef {
        self.sub.unwrap_or(self.attr)
    }
}

/// Resolves `[uri:]name[.sub]` against a resource type. Without a URI the core schema is
/// searched first, then the extensions (clients often omit the extension URN).
pub fn resolve(kind: ResourceKind, uri: Option<&str>, name: &str, sub: Option<&str>) -> Option<Resolved> {
    let (extension, attr) = match uri {
        Some(u) if u.eq_ignore_ascii_case(kind.schema().id) => (None, kind.schema().attribute(name)?),
        Some(u) => {
            let ext = kind.extension(u)?;
            (Some(ext), ext.attribute(name)?)
        }
        None => match kind.schema().attribute(name) {
            Some(a) => (None, a),
            None => kind.extensions().iter().find_map(|e| e.attribute(name).map(|a| (Some(*e), a)))?,
        },
    };
    let sub = match sub {
        Some(s) => Some(attr.sub_attribute(s)?),
        None => None,
    };
    Some(Resolved { extension, attr, sub })
}
