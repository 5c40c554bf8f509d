//! A component that traps gets a 500 for that request only: the runtime
//! keeps serving the next requests, to the same component and to others.
//! Needs the fixture built for wasm32-wasip2 (`scripts/test` does it).

mod fixture;

#[test]
fn a_trap_fails_only_its_own_request() {
    let served = fixture::serve("trap", |_| {});
    let address = served.address();
    assert_eq!(fixture::get(&address, "/fine").status, 200);
    for _ in 0..3 {
        assert_eq!(fixture::get(&address, "/trap").status, 500);
        assert_eq!(fixture::get(&address, "/fine").status, 200);
    }
}
