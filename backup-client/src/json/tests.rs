use super::*;

#[test]
fn numbers_print_as_javascript_prints_them() {
    for (x, text) in [
        (1.0, "1"),
        (1.5, "1.5"),
        (-0.25, "-0.25"),
        (1e21, "1e+21"),
        (1.1805916207174113e21, "1.1805916207174113e+21"),
        (123456789012345680000.0, "123456789012345680000"),
        (1e-7, "1e-7"),
        (1.5e-7, "1.5e-7"),
        (0.000001, "0.000001"),
        (0.1f32 as f64, "0.10000000149011612"),
        (f64::NAN, "null"),
        (-0.0, "0"),
    ] {
        assert_eq!(js_number(x), text, "{x}");
    }
    assert_eq!(
        to_js_text(&json!([{"b": [1, 2], "a": "x\"\n"}, 1.0, -3])),
        "[{\"b\":[1,2],\"a\":\"x\\\"\\n\"},1,-3]"
    );
}

fn types(text: &str) -> (TypeEnv, Type) {
    let did = format!("type T = {text};\nservice : {{ m : (T) -> () }}");
    let interface = crate::interface::Interface::parse(&did).unwrap();
    let ty: Type = TypeInner::Var("T".into()).into();
    (interface.env, ty)
}

/// Numbers that do not fit their type are refused with its range, and
/// a float32 past its range is not read as an infinity.
#[test]
fn numbers_that_do_not_fit_are_refused_with_their_range() {
    let (env, ty) = types("record { a : nat8; b : int16; c : float32; d : nat64 }");
    let codec = Codec::new(&env, Format::Lossless);
    let read = |value: Value| codec.from_json(&ty, &value, "entry 0").map(|_| ());
    assert!(read(json!({"a": 255, "b": -32768, "c": 3e38, "d": "18446744073709551615"})).is_ok());
    let error = read(json!({"a": 256, "b": 0, "c": 0, "d": "0"}))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("a nat8 from 0 to 255") && !error.contains("JavaScript"),
        "{error}"
    );
    let error = read(json!({"a": 0, "b": 40000, "c": 0, "d": "0"}))
        .unwrap_err()
        .to_string();
    assert!(error.contains("an int16 from -32768 to 32767"), "{error}");
    let error = read(json!({"a": 0, "b": 0, "c": 1e39, "d": "0"}))
        .unwrap_err()
        .to_string();
    assert!(error.contains("a float32 (at most"), "{error}");
}

/// A record value without a field of its type is written only where
/// the field's type says nothing (`opt`, `null`, `reserved`); any other
/// fails the backup instead of being written as null.
#[test]
fn a_missing_field_is_written_only_where_its_type_allows_nothing() {
    let (env, ty) = types("record { a : nat8; b : opt text; c : null }");
    let value = |fields: Vec<(&str, IDLValue)>| {
        IDLValue::Record(
            fields
                .into_iter()
                .map(|(name, val)| IDLField {
                    id: Label::Named(name.into()),
                    val,
                })
                .collect(),
        )
    };
    let written = to_json(
        &env,
        &ty,
        &value(vec![("a", IDLValue::Nat8(1))]),
        Format::AgentJs,
    )
    .unwrap();
    assert_eq!(written, json!({"a": 1, "b": [], "c": null}));
    let error = to_json(
        &env,
        &ty,
        &value(vec![("b", IDLValue::None)]),
        Format::Lossless,
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("no field a") && error.contains("not optional"),
        "{error}"
    );
}

/// A NaN's sign and payload come back from the lossless and plain
/// forms, of either width; the canonical NaN is written as before.
#[test]
fn nan_bits_are_kept() {
    let (env, ty) = types("record { a : float32; b : float64 }");
    let record = |a: f32, b: f64| {
        IDLValue::Record(vec![
            IDLField {
                id: Label::Named("a".into()),
                val: IDLValue::Float32(a),
            },
            IDLField {
                id: Label::Named("b".into()),
                val: IDLValue::Float64(b),
            },
        ])
    };
    for (a, b) in [
        (
            f32::from_bits(0x7fc0_0001),
            f64::from_bits(0xfff8_0000_0000_0abc),
        ),
        (-f32::NAN, f64::from_bits(0x7ff0_0000_0000_0001)),
        (f32::NAN, f64::NAN),
    ] {
        for format in [Format::Lossless, Format::Json] {
            let codec = Codec::new(&env, format);
            let written = codec.to_json(&ty, &record(a, b)).unwrap();
            let IDLValue::Record(fields) = codec.from_json(&ty, &written, "entry 0").unwrap()
            else {
                panic!("a record");
            };
            let bits: Vec<u64> = fields
                .iter()
                .map(|field| match field.val {
                    IDLValue::Float32(x) => u64::from(x.to_bits()),
                    IDLValue::Float64(x) => x.to_bits(),
                    _ => panic!("a float"),
                })
                .collect();
            assert_eq!(bits, vec![u64::from(a.to_bits()), b.to_bits()], "{written}");
        }
    }
    let canonical = Codec::new(&env, Format::Lossless)
        .to_json(&ty, &record(f32::NAN, f64::NAN))
        .unwrap();
    assert_eq!(canonical, json!({"a": "NaN", "b": "NaN"}));
    let codec = Codec::new(&env, Format::Lossless);
    let error = codec
        .from_json(&ty, &json!({"a": "NaN:0x1", "b": "NaN"}), "entry 0")
        .unwrap_err()
        .to_string();
    assert!(error.contains("8 hex digits"), "{error}");
    let error = codec
        .from_json(&ty, &json!({"a": "NaN:0x3f800000", "b": "NaN"}), "entry 0")
        .unwrap_err()
        .to_string();
    assert!(error.contains("float32 NaN"), "{error}");
}

/// `func` and `service` values are read back as they are written, in
/// every form.
#[test]
fn func_and_service_values_come_back() {
    let (env, ty) = types("record { f : func (nat) -> (); s : service { m : () -> () } }");
    let principal = Principal::from_text("ryjl3-tyaaa-aaaaa-aaaba-cai").unwrap();
    let value = IDLValue::Record(vec![
        IDLField {
            id: Label::Named("f".into()),
            val: IDLValue::Func(principal, "go".into()),
        },
        IDLField {
            id: Label::Named("s".into()),
            val: IDLValue::Service(principal),
        },
    ]);
    for format in [Format::Lossless, Format::Json, Format::AgentJs] {
        let codec = Codec::new(&env, format);
        let written = codec.to_json(&ty, &value).unwrap();
        assert_eq!(
            codec.from_json(&ty, &written, "entry 0").unwrap(),
            value,
            "{written}"
        );
    }
    let error = Codec::new(&env, Format::Lossless)
        .from_json(
            &ty,
            &json!({"f": "nope", "s": principal.to_text()}),
            "entry 0",
        )
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("a func: [principal, method name]"),
        "{error}"
    );
}
