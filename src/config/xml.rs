//! Reads `callpark.conf.xml`, shaped like every FreeSWITCH configuration file.

use std::collections::HashMap;

use roxmltree::{Document, Node};

use super::{
    resolve_tenant, valid_domain, At, Config, ConfigError, ConfigErrors, Layer, Level, RawGroup, RawLot, LOT_OWN_ATTRS,
};

/// Group attributes that are not recall parameters.
const GROUP_OWN_ATTRS: &[&str] = &["name"];

/// Parses and validates a configuration. `source` names it in error messages
/// (`callpark.conf.xml`). Every error found is returned; none means it is valid.
pub fn from_xml(source: &str, text: &str) -> Result<Config, ConfigErrors> {
    let fail = |errors| ConfigErrors { source: source.to_string(), errors };
    let doc = match Document::parse(text) {
        Ok(d) => d,
        Err(e) => {
            let pos = e.pos();
            return Err(fail(vec![ConfigError {
                line: Some(pos.row),
                place: String::new(),
                // The parser quotes the offending character as is, NUL and all.
                message: format!("not well-formed XML: {}", escape_controls(&e.to_string())),
            }]));
        }
    };
    let lines = Lines::new(text);
    let line = |n: Node| Some(lines.row(n.range().start));
    let mut errors = Vec::new();
    let err = |errors: &mut Vec<ConfigError>, n: Node, place: &str, message: String| {
        errors.push(ConfigError { line: line(n), place: place.to_string(), message })
    };

    let root = doc.root_element();
    let conf = if root.has_tag_name("configuration") {
        Some(root)
    } else {
        root.descendants().find(|n| n.has_tag_name("configuration") && n.attribute("name") == Some("callpark.conf"))
    };
    let Some(conf) = conf else {
        return Err(fail(vec![ConfigError {
            line: line(root),
            place: String::new(),
            message: "no <configuration name=\"callpark.conf\"> element".into(),
        }]));
    };
    if let Some(name) = conf.attribute("name") {
        if name != "callpark.conf" {
            err(&mut errors, conf, "", format!("configuration is named \"{name}\", expected \"callpark.conf\""));
        }
    }

    let mut global = Layer::new(String::new());
    let mut raw_tenants: Vec<RawTenant> = Vec::new();
    for child in elements(conf) {
        match child.tag_name().name() {
            "settings" => read_params(&lines, child, &mut global, &mut errors),
            "tenants" => {
                for t in elements(child) {
                    if !t.has_tag_name("tenant") {
                        err(
                            &mut errors,
                            t,
                            "tenants",
                            format!("unexpected <{}>, expected <tenant>", t.tag_name().name()),
                        );
                        continue;
                    }
                    raw_tenants.push(read_tenant(&lines, t, &mut errors));
                }
            }
            other => err(&mut errors, child, "", format!("unexpected <{other}> in <configuration>")),
        }
    }

    let default_tenant = resolve_tenant("", &[&global], &[], &[], &mut errors);
    let store = global.store.resolve(&mut errors);
    let mut tenants = HashMap::new();
    for (domain, layer, groups, lots) in &raw_tenants {
        if domain.value.is_empty() {
            continue; // already reported
        }
        if tenants.contains_key(&domain.value) {
            errors.push(ConfigError {
                line: domain.line,
                place: layer.place.clone(),
                message: format!("tenant \"{}\" is configured twice", domain.value),
            });
            continue;
        }
        let t = resolve_tenant(&domain.value, &[&global, layer], groups, lots, &mut errors);
        tenants.insert(domain.value.clone(), t);
    }
    if errors.is_empty() {
        Ok(Config::build(default_tenant, tenants, store))
    } else {
        errors.sort_by_key(|e| e.line.unwrap_or(u32::MAX));
        Err(fail(errors))
    }
}

/// `s` with control characters (a NUL among them) written as escapes.
fn escape_controls(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect()
}

/// Line numbers of byte offsets, found by binary search (roxmltree's own look-up scans
/// the text from the start each time, which makes many errors quadratic).
struct Lines(Vec<usize>);

impl Lines {
    fn new(text: &str) -> Self {
        Lines(text.bytes().enumerate().filter(|(_, b)| *b == b'\n').map(|(i, _)| i).collect())
    }

    /// The 1-based line of byte `pos`.
    fn row(&self, pos: usize) -> u32 {
        (self.0.partition_point(|&nl| nl < pos) + 1) as u32
    }
}

/// Child elements, skipping FreeSWITCH pre-processor instructions (already applied by
/// the switch; `callpark check` reads files as written).
fn elements<'a, 'i>(n: Node<'a, 'i>) -> impl Iterator<Item = Node<'a, 'i>> {
    n.children().filter(|c| c.is_element() && !c.has_tag_name("X-PRE-PROCESS"))
}

fn read_params(lines: &Lines, settings: Node, layer: &mut Layer, errors: &mut Vec<ConfigError>) {
    for p in elements(settings) {
        let line = Some(lines.row(p.range().start));
        if !p.has_tag_name("param") {
            errors.push(ConfigError {
                line,
                place: layer.place.clone(),
                message: format!("unexpected <{}> in <settings>, expected <param>", p.tag_name().name()),
            });
            continue;
        }
        match (p.attribute("name"), p.attribute("value")) {
            (Some(n), Some(v)) => layer.set(Level::Settings, n, v, line, errors),
            _ => errors.push(ConfigError {
                line,
                place: layer.place.clone(),
                message: "<param> needs a name and a value".into(),
            }),
        }
    }
}

/// A tenant as read: its domain, settings, groups and lots.
type RawTenant = (At<String>, Layer, Vec<RawGroup>, Vec<RawLot>);

fn read_tenant(lines: &Lines, t: Node, errors: &mut Vec<ConfigError>) -> RawTenant {
    let line = |n: Node| Some(lines.row(n.range().start));
    let raw_domain = t.attribute("domain").unwrap_or("");
    let domain = raw_domain.to_ascii_lowercase();
    let place = format!("tenant \"{raw_domain}\"");
    if !valid_domain(&domain) {
        errors.push(ConfigError {
            line: line(t),
            place: place.clone(),
            message: "a tenant needs a domain=\"...\" of letters, digits, '.', '-' or '_'".into(),
        });
    }
    for a in t.attributes() {
        if a.name() != "domain" {
            errors.push(ConfigError {
                line: line(t),
                place: place.clone(),
                message: format!("unknown attribute \"{}\"", a.name()),
            });
        }
    }
    let mut layer = Layer::new(place.clone());
    let mut groups = Vec::new();
    let mut lots = Vec::new();
    for c in elements(t) {
        match c.tag_name().name() {
            "settings" => read_params(lines, c, &mut layer, errors),
            "groups" => {
                for g in elements(c) {
                    if !g.has_tag_name("group") {
                        errors.push(ConfigError {
                            line: line(g),
                            place: place.clone(),
                            message: format!("unexpected <{}> in <groups>, expected <group>", g.tag_name().name()),
                        });
                        continue;
                    }
                    groups.push(read_group(lines, g, &place, errors));
                }
            }
            "lots" => {
                for l in elements(c) {
                    if !l.has_tag_name("lot") {
                        errors.push(ConfigError {
                            line: line(l),
                            place: place.clone(),
                            message: format!("unexpected <{}> in <lots>, expected <lot>", l.tag_name().name()),
                        });
                        continue;
                    }
                    lots.push(read_lot(lines, l, &place, errors));
                }
            }
            other => errors.push(ConfigError {
                line: line(c),
                place: place.clone(),
                message: format!("unexpected <{other}> in <tenant>"),
            }),
        }
    }
    let domain = if valid_domain(&domain) { domain } else { String::new() };
    (At { value: domain, line: line(t) }, layer, groups, lots)
}

fn read_lot(lines: &Lines, l: Node, tenant_place: &str, errors: &mut Vec<ConfigError>) -> RawLot {
    let line = Some(lines.row(l.range().start));
    let name = l.attribute("name").unwrap_or("").to_string();
    let place = format!("{tenant_place}: lot \"{name}\"");
    let mut layer = Layer::new(place.clone());
    for a in l.attributes() {
        if !LOT_OWN_ATTRS.contains(&a.name()) {
            layer.set(Level::Group, a.name(), a.value(), line, errors);
        }
    }
    if l.attribute("slots").is_none() {
        errors.push(ConfigError { line, place: place.clone(), message: "<lot> needs slots=\"701-720\"".into() });
    }
    if let Some(c) = elements(l).next() {
        errors.push(ConfigError {
            line: Some(lines.row(c.range().start)),
            place,
            message: format!("unexpected <{}> in <lot>", c.tag_name().name()),
        });
    }
    let at = |v: &str| At { value: v.to_string(), line };
    RawLot {
        name: At { value: name, line },
        slots: at(l.attribute("slots").unwrap_or("")),
        choose: at(l.attribute("choose").unwrap_or("")),
        prefix: at(l.attribute("prefix").unwrap_or("")),
        number: at(l.attribute("number").unwrap_or("")),
        layer,
    }
}

fn read_group(lines: &Lines, g: Node, tenant_place: &str, errors: &mut Vec<ConfigError>) -> RawGroup {
    let line = |n: Node| Some(lines.row(n.range().start));
    let name = g.attribute("name").unwrap_or("").to_string();
    let place = format!("{tenant_place}: group \"{name}\"");
    let mut layer = Layer::new(place.clone());
    for a in g.attributes() {
        if !GROUP_OWN_ATTRS.contains(&a.name()) {
            layer.set(Level::Group, a.name(), a.value(), line(g), errors);
        }
    }
    let mut members = Vec::new();
    for m in elements(g) {
        if !m.has_tag_name("member") {
            errors.push(ConfigError {
                line: line(m),
                place: place.clone(),
                message: format!("unexpected <{}> in <group>, expected <member>", m.tag_name().name()),
            });
            continue;
        }
        match m.attribute("extension") {
            Some(e) => members.push(At { value: e.trim().to_string(), line: line(m) }),
            None => errors.push(ConfigError {
                line: line(m),
                place: place.clone(),
                message: "<member> needs extension=\"...\"".into(),
            }),
        }
    }
    RawGroup { name: At { value: name, line: line(g) }, layer, members }
}
