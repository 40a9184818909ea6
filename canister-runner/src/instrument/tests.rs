use super::*;

fn ops(wat: &str) -> Vec<Operator<'static>> {
    let wasm: &'static [u8] = Box::leak(wat::parse_str(wat).unwrap().into_boxed_slice());
    for payload in Parser::new(0).parse_all(wasm) {
        if let Payload::CodeSectionEntry(body) = payload.unwrap() {
            return body
                .get_operators_reader()
                .unwrap()
                .into_iter()
                .collect::<Result<_, _>>()
                .unwrap();
        }
    }
    panic!("no function");
}

#[test]
fn blocks_are_charged_as_the_ic_charges_them() {
    // local.get, i32.const, i32.add, end: 1 + 1 + 1 + 1 + 0.
    let straight = ops("(module (func (param i32) (result i32) local.get 0 i32.const 1 i32.add))");
    assert_eq!(
        charges(&straight),
        vec![(
            0,
            Charge::Block {
                cost: 4,
                reentrant: true
            }
        )]
    );

    // A loop: the function's block up to `loop` (1 + 0), the loop body
    // (local.get 1, i32.const 1, i32.sub, local.tee 1, br_if 2 = 6), and
    // the rest (end of loop 0, i32.const 1, end 0 = 1).
    let looping = ops(
        "(module (func (local i32) (loop local.get 0 i32.const 1 i32.sub local.tee 0 br_if 0) i32.const 1 drop))",
    );
    assert_eq!(
        charges(&looping),
        vec![
            (
                0,
                Charge::Block {
                    cost: 1,
                    reentrant: true
                }
            ),
            (
                1,
                Charge::Block {
                    cost: 6,
                    reentrant: true
                }
            ),
            // end of the loop: a block of cost 0, not charged
            (
                7,
                Charge::Block {
                    cost: 2,
                    reentrant: false
                }
            ),
        ]
    );

    // Bulk memory: its size is charged just before it.
    let fill = ops("(module (memory 1) (func i32.const 0 i32.const 0 i32.const 10 memory.fill))");
    assert_eq!(
        charges(&fill),
        vec![
            (
                0,
                Charge::Block {
                    cost: 104,
                    reentrant: true
                }
            ),
            (3, Charge::Size),
        ]
    );
}

#[test]
fn the_instrumented_module_is_valid_and_exports_the_counter() {
    let wasm = wat::parse_str(
        r#"(module
            (memory (export "memory") 1)
            (func (export "canister_update f") (local i32)
              (loop local.get 0 i32.const 1 i32.add local.tee 0 i32.const 10 i32.lt_u br_if 0)
              i32.const 0 i32.const 0 i32.const 100 memory.fill))"#,
    )
    .unwrap();
    let instrumented = instrument(&wasm, None).unwrap().bytes;
    wasmparser::Validator::new()
        .validate_all(&instrumented)
        .unwrap();
    let exports: Vec<String> = Parser::new(0)
        .parse_all(&instrumented)
        .filter_map(|payload| match payload.unwrap() {
            Payload::ExportSection(exports) => Some(
                exports
                    .into_iter()
                    .map(|export| export.unwrap().name.to_string())
                    .collect::<Vec<_>>(),
            ),
            _ => None,
        })
        .flatten()
        .collect();
    assert!(exports.contains(&COUNTER_EXPORT.to_string()), "{exports:?}");
}
