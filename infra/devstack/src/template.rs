//! Reads `template.yaml` the way CloudFormation and SAM would, for the subset Linli uses:
//! parameters (with overrides), conditions, `Globals.Function`, and the intrinsics `!Ref`,
//! `!GetAtt`, `!Sub`, `!Not`, `!Equals`, `!If` (short and long forms). Anything else is a loud
//! error naming the intrinsic and where it was found, never a silent empty string.

use serde_json::{Map, Number, Value as Json};
use serde_yaml_ng::Value as Yaml;
use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TemplateError {
    #[error("template is not valid YAML: {0}")]
    Yaml(String),
    #[error("{at}: the devstack does not support the intrinsic {name} (supported: Ref, GetAtt, Sub, Not, Equals, If)")]
    UnsupportedIntrinsic { at: String, name: String },
    #[error("{at}: {what}")]
    Invalid { at: String, what: String },
    #[error("{at}: !Ref {name}: no such parameter, resource or pseudo parameter")]
    UnknownRef { at: String, name: String },
    #[error("{at}: !GetAtt {resource}.{attribute}: not available locally")]
    UnknownAttribute {
        at: String,
        resource: String,
        attribute: String,
    },
}

pub(crate) fn invalid(at: &str, what: impl Into<String>) -> TemplateError {
    TemplateError::Invalid {
        at: at.to_owned(),
        what: what.into(),
    }
}

/// A resource as written in the template, its properties unresolved.
#[derive(Clone, Debug)]
pub struct Resource {
    pub kind: String,
    pub properties: Yaml,
    pub metadata: Yaml,
    pub condition: Option<String>,
}

/// The parsed template.
#[derive(Clone, Debug)]
pub struct Template {
    pub parameters: BTreeMap<String, Option<String>>,
    pub conditions: BTreeMap<String, Yaml>,
    pub globals_function: Yaml,
    pub resources: BTreeMap<String, Resource>,
}

fn get<'a>(map: &'a Yaml, key: &str) -> Option<&'a Yaml> {
    map.as_mapping().and_then(|m| m.get(key))
}

fn scalar_text(value: &Yaml) -> Option<String> {
    match value {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Number(n) => Some(n.to_string()),
        Yaml::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

impl Template {
    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        let doc: Yaml =
            serde_yaml_ng::from_str(text).map_err(|e| TemplateError::Yaml(e.to_string()))?;
        let mut parameters = BTreeMap::new();
        if let Some(params) = get(&doc, "Parameters").and_then(Yaml::as_mapping) {
            for (name, spec) in params {
                let name = scalar_text(name).ok_or_else(|| invalid("Parameters", "bad name"))?;
                parameters.insert(name, get(spec, "Default").and_then(scalar_text));
            }
        }
        let mut conditions = BTreeMap::new();
        if let Some(conds) = get(&doc, "Conditions").and_then(Yaml::as_mapping) {
            for (name, body) in conds {
                let name = scalar_text(name).ok_or_else(|| invalid("Conditions", "bad name"))?;
                conditions.insert(name, body.clone());
            }
        }
        let globals_function = get(&doc, "Globals")
            .and_then(|g| get(g, "Function"))
            .cloned()
            .unwrap_or(Yaml::Null);
        let mut resources = BTreeMap::new();
        let listed = get(&doc, "Resources")
            .and_then(Yaml::as_mapping)
            .ok_or_else(|| invalid("template", "no Resources section"))?;
        for (name, body) in listed {
            let name = scalar_text(name).ok_or_else(|| invalid("Resources", "bad logical id"))?;
            let at = format!("Resources.{name}");
            let kind = get(body, "Type")
                .and_then(scalar_text)
                .ok_or_else(|| invalid(&at, "no Type"))?;
            resources.insert(
                name,
                Resource {
                    kind,
                    properties: get(body, "Properties").cloned().unwrap_or(Yaml::Null),
                    metadata: get(body, "Metadata").cloned().unwrap_or(Yaml::Null),
                    condition: get(body, "Condition").and_then(scalar_text),
                },
            );
        }
        Ok(Self {
            parameters,
            conditions,
            globals_function,
            resources,
        })
    }

    /// Logical ids of the resources of `kind`, in name order, whose condition holds.
    pub fn of_kind<'a>(
        &'a self,
        kind: &'a str,
        resolver: &'a Resolver,
    ) -> impl Iterator<Item = Result<(&'a String, &'a Resource), TemplateError>> + 'a {
        self.resources
            .iter()
            .filter(move |(_, r)| r.kind == kind)
            .filter_map(move |(id, r)| match &r.condition {
                None => Some(Ok((id, r))),
                Some(cond) => match resolver.condition(self, cond) {
                    Ok(true) => Some(Ok((id, r))),
                    Ok(false) => None,
                    Err(e) => Some(Err(e)),
                },
            })
    }
}

/// What `!Ref` and `!GetAtt` give for a resource, once the devstack knows it.
#[derive(Clone, Debug, Default)]
pub struct Physical {
    /// `!Ref` of the resource (a table's name, a queue's URL, a function's name, a topic's ARN).
    pub reference: String,
    /// `!GetAtt` attributes (`Arn`, `QueueName`, …).
    pub attributes: BTreeMap<String, String>,
}

/// Resolves intrinsics against parameters, pseudo parameters and known resources.
#[derive(Clone, Debug)]
pub struct Resolver {
    pub stack_name: String,
    pub region: String,
    pub account: String,
    pub parameters: BTreeMap<String, String>,
    pub resources: BTreeMap<String, Physical>,
}

impl Resolver {
    /// Parameters take their defaults unless overridden; a parameter without either is an error.
    pub fn new(
        template: &Template,
        stack_name: &str,
        region: &str,
        account: &str,
        overrides: &BTreeMap<String, String>,
    ) -> Result<Self, TemplateError> {
        let mut parameters = BTreeMap::new();
        for (name, default) in &template.parameters {
            let value = overrides
                .get(name)
                .cloned()
                .or_else(|| default.clone())
                .ok_or_else(|| {
                    invalid(&format!("Parameters.{name}"), "no Default and no override")
                })?;
            parameters.insert(name.clone(), value);
        }
        for name in overrides.keys() {
            if !template.parameters.contains_key(name) {
                return Err(invalid(
                    "parameter overrides",
                    format!("no parameter {name}"),
                ));
            }
        }
        Ok(Self {
            stack_name: stack_name.to_owned(),
            region: region.to_owned(),
            account: account.to_owned(),
            parameters,
            resources: BTreeMap::new(),
        })
    }

    pub fn partition(&self) -> &'static str {
        if self.region.starts_with("cn-") {
            "aws-cn"
        } else {
            "aws"
        }
    }

    fn pseudo(&self, name: &str) -> Option<String> {
        Some(match name {
            "AWS::StackName" => self.stack_name.clone(),
            "AWS::Region" => self.region.clone(),
            "AWS::AccountId" => self.account.clone(),
            "AWS::Partition" => self.partition().to_owned(),
            "AWS::URLSuffix" => "amazonaws.com".to_owned(),
            _ => return None,
        })
    }

    fn reference(&self, at: &str, name: &str) -> Result<String, TemplateError> {
        if let Some(v) = self.parameters.get(name) {
            return Ok(v.clone());
        }
        if let Some(v) = self.pseudo(name) {
            return Ok(v);
        }
        if let Some(p) = self.resources.get(name) {
            return Ok(p.reference.clone());
        }
        Err(TemplateError::UnknownRef {
            at: at.to_owned(),
            name: name.to_owned(),
        })
    }

    fn attribute(
        &self,
        at: &str,
        resource: &str,
        attribute: &str,
    ) -> Result<String, TemplateError> {
        self.resources
            .get(resource)
            .and_then(|p| p.attributes.get(attribute))
            .cloned()
            .ok_or_else(|| TemplateError::UnknownAttribute {
                at: at.to_owned(),
                resource: resource.to_owned(),
                attribute: attribute.to_owned(),
            })
    }

    /// Evaluates the named condition.
    pub fn condition(&self, template: &Template, name: &str) -> Result<bool, TemplateError> {
        let at = format!("Conditions.{name}");
        let body = template
            .conditions
            .get(name)
            .ok_or_else(|| invalid(&at, "no such condition"))?;
        match self.resolve_in(template, body, &at)? {
            Json::Bool(b) => Ok(b),
            other => Err(invalid(
                &at,
                format!("does not evaluate to a boolean: {other}"),
            )),
        }
    }

    /// Resolves every intrinsic in `value` (found at `at`, for error messages) into plain JSON.
    pub fn resolve(
        &self,
        template: &Template,
        value: &Yaml,
        at: &str,
    ) -> Result<Json, TemplateError> {
        self.resolve_in(template, value, at)
    }

    fn resolve_in(
        &self,
        template: &Template,
        value: &Yaml,
        at: &str,
    ) -> Result<Json, TemplateError> {
        match value {
            Yaml::Null => Ok(Json::Null),
            Yaml::Bool(b) => Ok(Json::Bool(*b)),
            Yaml::Number(n) => Ok(yaml_number(n)),
            Yaml::String(s) => Ok(Json::String(s.clone())),
            Yaml::Sequence(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| self.resolve_in(template, v, &format!("{at}[{i}]")))
                .collect::<Result<Vec<_>, _>>()
                .map(Json::Array),
            Yaml::Tagged(tagged) => {
                let name = tagged.tag.to_string();
                let name = name.trim_start_matches('!');
                self.intrinsic(template, name, &tagged.value, at)
            }
            Yaml::Mapping(map) => {
                if map.len() == 1 {
                    if let Some((Yaml::String(key), body)) = map.iter().next() {
                        if key == "Ref" {
                            return self.intrinsic(template, "Ref", body, at);
                        }
                        if let Some(name) = key.strip_prefix("Fn::") {
                            return self.intrinsic(template, name, body, at);
                        }
                        if key == "Condition" {
                            let name = scalar_text(body)
                                .ok_or_else(|| invalid(at, "Condition needs a name"))?;
                            return self.condition(template, &name).map(Json::Bool);
                        }
                    }
                }
                let mut out = Map::new();
                for (k, v) in map {
                    let key = scalar_text(k).ok_or_else(|| invalid(at, "non-scalar key"))?;
                    let resolved = self.resolve_in(template, v, &format!("{at}.{key}"))?;
                    out.insert(key, resolved);
                }
                Ok(Json::Object(out))
            }
        }
    }

    fn intrinsic(
        &self,
        template: &Template,
        name: &str,
        body: &Yaml,
        at: &str,
    ) -> Result<Json, TemplateError> {
        let at_fn = format!("{at} (!{name})");
        match name {
            "Ref" => {
                let target = scalar_text(body).ok_or_else(|| invalid(&at_fn, "needs a name"))?;
                self.reference(at, &target).map(Json::String)
            }
            "GetAtt" => {
                let (resource, attribute) = match body {
                    Yaml::String(s) => s
                        .split_once('.')
                        .map(|(r, a)| (r.to_owned(), a.to_owned()))
                        .ok_or_else(|| invalid(&at_fn, "expects Resource.Attribute"))?,
                    Yaml::Sequence(parts) if parts.len() == 2 => {
                        let r = scalar_text(&parts[0])
                            .ok_or_else(|| invalid(&at_fn, "bad resource"))?;
                        let a = scalar_text(&parts[1])
                            .ok_or_else(|| invalid(&at_fn, "bad attribute"))?;
                        (r, a)
                    }
                    _ => return Err(invalid(&at_fn, "expects Resource.Attribute")),
                };
                self.attribute(at, &resource, &attribute).map(Json::String)
            }
            "Sub" => {
                let (text, vars) = match body {
                    Yaml::String(s) => (s.clone(), BTreeMap::new()),
                    Yaml::Sequence(parts) if parts.len() == 2 => {
                        let text =
                            scalar_text(&parts[0]).ok_or_else(|| invalid(&at_fn, "bad string"))?;
                        let mut vars = BTreeMap::new();
                        if let Some(map) = parts[1].as_mapping() {
                            for (k, v) in map {
                                let key = scalar_text(k)
                                    .ok_or_else(|| invalid(&at_fn, "bad variable"))?;
                                let value = match self.resolve_in(template, v, &at_fn)? {
                                    Json::String(s) => s,
                                    other => other.to_string(),
                                };
                                vars.insert(key, value);
                            }
                        }
                        (text, vars)
                    }
                    _ => return Err(invalid(&at_fn, "expects a string or [string, variables]")),
                };
                self.substitute(&text, &vars, at).map(Json::String)
            }
            "Not" => match self.resolve_in(template, &first_of(body), &at_fn)? {
                Json::Bool(b) => Ok(Json::Bool(!b)),
                other => Err(invalid(&at_fn, format!("needs a boolean, got {other}"))),
            },
            "Equals" => match body {
                Yaml::Sequence(parts) if parts.len() == 2 => {
                    let a = self.resolve_in(template, &parts[0], &at_fn)?;
                    let b = self.resolve_in(template, &parts[1], &at_fn)?;
                    Ok(Json::Bool(a == b))
                }
                _ => Err(invalid(&at_fn, "expects two values")),
            },
            "If" => match body {
                Yaml::Sequence(parts) if parts.len() == 3 => {
                    let cond =
                        scalar_text(&parts[0]).ok_or_else(|| invalid(&at_fn, "bad condition"))?;
                    let chosen = if self.condition(template, &cond)? {
                        &parts[1]
                    } else {
                        &parts[2]
                    };
                    self.resolve_in(template, chosen, &at_fn)
                }
                _ => Err(invalid(&at_fn, "expects [condition, then, else]")),
            },
            other => Err(TemplateError::UnsupportedIntrinsic {
                at: at.to_owned(),
                name: other.to_owned(),
            }),
        }
    }

    /// `${Name}`, `${Resource.Attribute}` and `${!Literal}` as `Fn::Sub` defines them.
    fn substitute(
        &self,
        text: &str,
        vars: &BTreeMap<String, String>,
        at: &str,
    ) -> Result<String, TemplateError> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| invalid(at, format!("unclosed ${{ in {text:?}")))?;
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else if let Some(v) = vars.get(name) {
                out.push_str(v);
            } else if let Some((resource, attribute)) =
                name.split_once('.').filter(|_| !name.starts_with("AWS::"))
            {
                out.push_str(&self.attribute(at, resource, attribute)?);
            } else {
                out.push_str(&self.reference(at, name)?);
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

fn first_of(body: &Yaml) -> Yaml {
    match body {
        Yaml::Sequence(items) if items.len() == 1 => items[0].clone(),
        other => other.clone(),
    }
}

fn yaml_number(n: &serde_yaml_ng::Number) -> Json {
    if let Some(i) = n.as_i64() {
        Json::Number(i.into())
    } else if let Some(u) = n.as_u64() {
        Json::Number(u.into())
    } else {
        n.as_f64()
            .and_then(Number::from_f64)
            .map(Json::Number)
            .unwrap_or(Json::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = r#"
Parameters:
  Stage: { Type: String, Default: prod }
  Email: { Type: String, Default: "" }
Conditions:
  HasEmail: !Not [!Equals [!Ref Email, ""]]
  IsLocal: { "Fn::Equals": [{ Ref: Stage }, local] }
Globals:
  Function:
    Timeout: 10
Resources:
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub "${AWS::StackName}-work.fifo"
      Redrive: !GetAtt Dlq.Arn
      Both: !Sub "${Queue.QueueName} in ${AWS::Region} ${!Literal}"
      Picked: !If [IsLocal, here, there]
      Vars: !Sub ["${Who}-${Stage}", { Who: !Ref Stage }]
  Dlq:
    Type: AWS::SQS::Queue
  Sub:
    Type: AWS::SNS::Subscription
    Condition: HasEmail
  Bad:
    Type: AWS::SQS::Queue
    Properties:
      Name: !Join ["-", [a, b]]
"#;

    fn resolver(template: &Template, overrides: &[(&str, &str)]) -> Resolver {
        let overrides = overrides
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut r = Resolver::new(
            template,
            "linli-local",
            "cn-north-1",
            "123456789012",
            &overrides,
        )
        .unwrap();
        r.resources.insert(
            "Dlq".into(),
            Physical {
                reference: "http://q/dlq".into(),
                attributes: BTreeMap::from([(
                    "Arn".into(),
                    "arn:aws-cn:sqs:cn-north-1:123456789012:dlq".into(),
                )]),
            },
        );
        r.resources.insert(
            "Queue".into(),
            Physical {
                reference: "http://q/work".into(),
                attributes: BTreeMap::from([("QueueName".into(), "linli-local-work.fifo".into())]),
            },
        );
        r
    }

    fn prop(
        template: &Template,
        r: &Resolver,
        resource: &str,
        name: &str,
    ) -> Result<Json, TemplateError> {
        let props = &template.resources[resource].properties;
        r.resolve(
            template,
            get(props, name).unwrap(),
            &format!("Resources.{resource}.Properties.{name}"),
        )
    }

    #[test]
    fn ref_getatt_sub_and_conditions_resolve() {
        let t = Template::parse(TEMPLATE).unwrap();
        let r = resolver(&t, &[("Stage", "local")]);
        assert_eq!(
            prop(&t, &r, "Queue", "QueueName").unwrap(),
            "linli-local-work.fifo"
        );
        assert_eq!(
            prop(&t, &r, "Queue", "Redrive").unwrap(),
            "arn:aws-cn:sqs:cn-north-1:123456789012:dlq"
        );
        assert_eq!(
            prop(&t, &r, "Queue", "Both").unwrap(),
            "linli-local-work.fifo in cn-north-1 ${Literal}"
        );
        assert_eq!(prop(&t, &r, "Queue", "Picked").unwrap(), "here");
        assert_eq!(prop(&t, &r, "Queue", "Vars").unwrap(), "local-local");
        assert!(!r.condition(&t, "HasEmail").unwrap());
        let with_email = resolver(&t, &[("Email", "oncall@example.com")]);
        assert!(with_email.condition(&t, "HasEmail").unwrap());
        assert_eq!(prop(&t, &with_email, "Queue", "Picked").unwrap(), "there");
    }

    #[test]
    fn an_unsupported_intrinsic_is_a_loud_error_naming_it_and_its_place() {
        let t = Template::parse(TEMPLATE).unwrap();
        let r = resolver(&t, &[]);
        let err = prop(&t, &r, "Bad", "Name").unwrap_err();
        assert_eq!(
            err,
            TemplateError::UnsupportedIntrinsic {
                at: "Resources.Bad.Properties.Name".into(),
                name: "Join".into()
            }
        );
        assert!(err.to_string().contains("Join"));
    }

    #[test]
    fn unknown_names_and_attributes_are_errors_not_empty_strings() {
        let t = Template::parse(TEMPLATE).unwrap();
        let r = resolver(&t, &[]);
        let unknown = r
            .resolve(&t, &serde_yaml_ng::from_str("!Ref Nope").unwrap(), "x")
            .unwrap_err();
        assert!(matches!(unknown, TemplateError::UnknownRef { .. }));
        let attr = r
            .resolve(
                &t,
                &serde_yaml_ng::from_str("!GetAtt Dlq.Nope").unwrap(),
                "x",
            )
            .unwrap_err();
        assert!(matches!(attr, TemplateError::UnknownAttribute { .. }));
        let bad_override = Resolver::new(
            &t,
            "s",
            "r",
            "a",
            &BTreeMap::from([("Nope".into(), "1".into())]),
        );
        assert!(bad_override.is_err());
    }

    #[test]
    fn conditional_resources_are_skipped_when_false() {
        let t = Template::parse(TEMPLATE).unwrap();
        let r = resolver(&t, &[]);
        let subs: Vec<_> = t.of_kind("AWS::SNS::Subscription", &r).collect();
        assert!(subs.is_empty());
        let queues: Vec<_> = t
            .of_kind("AWS::SQS::Queue", &r)
            .map(|q| q.unwrap().0.clone())
            .collect();
        assert_eq!(queues, ["Bad", "Dlq", "Queue"]);
    }

    #[test]
    fn the_project_template_parses() {
        let text = include_str!("../../../template.yaml");
        let t = Template::parse(text).unwrap();
        assert!(t.resources.contains_key("LedgerTable"));
        assert_eq!(t.parameters.get("Stage"), Some(&Some("prod".to_owned())));
    }
}
