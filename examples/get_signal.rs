//! The README's library example as a program: `cargo run --example get_signal [REPO]`.

use inframed::{element::DateVal, Pid, Repository, SignalStore};

fn main() -> inframed::Result<()> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "testdata/inframed/small/repo/small.repository".into());
    let repo = Repository::open(path)?;

    // One patient's vector, borrowed from the map: channels by index.
    let hgb = repo.signal(Pid(1025), "Hemoglobin")?;
    for e in hgb.iter() {
        println!("{} {}", e.time(0), e.value(0));
    }
    // A time window, by binary search on time channel 0 (inclusive).
    let window = hgb.range(20190101, 20211231);
    println!("{} of {} values in 2019-2021", window.len(), hgb.len());

    // Typed access: a slice of #[repr(C)] structs (borrowed where aligned, copied otherwise).
    let typed = repo.get::<DateVal>(Pid(1025), "Hemoglobin")?;
    let mean = typed.iter().map(|e| e.val).sum::<f32>() / typed.len() as f32;
    println!("mean {mean}");

    // Dictionaries: code <-> name, and set membership as a table lookup.
    let dx = repo.section("DIAGNOSIS")?;
    let diabetes = dx.set_lookup_table(&["DIABETES_ALL"]).expect("set defined");
    let has_diabetes = repo
        .signal(Pid(1025), "DIAGNOSIS")?
        .iter()
        .any(|e| diabetes.contains(e.value(0).as_i64() as i32));
    println!("pid 1025 has a diabetes diagnosis: {has_diabetes}");

    // Every store (native layouts, containers) implements one object-safe trait.
    let store: &dyn SignalStore = &repo;
    let sid = store.catalog().signal("Glucose")?.sid;
    let mut elements = 0;
    for &pid in store.pids() {
        elements += store.get_bytes(pid, sid)?.len() / 8; // little-endian elements, time-sorted
    }
    println!(
        "{elements} Glucose values over {} patients",
        store.pids().len()
    );
    Ok(())
}
