//! Checks the cross-built router binaries that `openwrt/cross-build.sh` writes to
//! `dist/<triple>/sipalgd` (or `$SIPALG_DIST/<triple>/sipalgd`), by reading their ELF
//! headers directly: architecture, byte order, word size, static linkage, MIPS
//! soft-float ABI and the 1.5 MB size budget.
//!
//! Binaries that are missing are reported and skipped. `SIPALG_REQUIRE_CROSS` makes them
//! mandatory (CI sets it after running the cross build):
//! - `1` (or empty): at least one of the four must exist; every one present is checked;
//! - `all`: all four must exist;
//! - a list of triples separated by spaces or commas: those must exist.

use std::path::PathBuf;

const BUDGET: u64 = 1_572_864; // SPEC: stripped release binary <= 1.5 MB

const EM_X86_64: u16 = 62;
const EM_AARCH64: u16 = 183;
const EM_MIPS: u16 = 8;
const ET_EXEC: u16 = 2;
const ET_DYN: u16 = 3;
const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;
const PT_MIPS_ABIFLAGS: u32 = 0x7000_0003;
const DT_NEEDED: u64 = 1;
const EF_MIPS_ARCH: u32 = 0xf000_0000;
const E_MIPS_ARCH_32R2: u32 = 0x7000_0000;
const EF_MIPS_ABI: u32 = 0x0000_f000;
const E_MIPS_ABI_O32: u32 = 0x0000_1000;
const EF_MIPS_ABI2: u32 = 0x0000_0020;
const EF_MIPS_FP64: u32 = 0x0000_0200;
const VAL_GNU_MIPS_ABI_FP_SOFT: u8 = 3;
const AFL_REG_NONE: u8 = 0;

struct Expect {
    triple: &'static str,
    machine: u16,
    class64: bool,
    big_endian: bool,
    static_pie_ok: bool,
    mips_soft_float: bool,
}

const TARGETS: &[Expect] = &[
    Expect {
        triple: "mipsel-unknown-linux-musl",
        machine: EM_MIPS,
        class64: false,
        big_endian: false,
        static_pie_ok: false,
        mips_soft_float: true,
    },
    Expect {
        triple: "mips-unknown-linux-musl",
        machine: EM_MIPS,
        class64: false,
        big_endian: true,
        static_pie_ok: false,
        mips_soft_float: true,
    },
    Expect {
        triple: "aarch64-unknown-linux-musl",
        machine: EM_AARCH64,
        class64: true,
        big_endian: false,
        static_pie_ok: true,
        mips_soft_float: false,
    },
    Expect {
        triple: "x86_64-unknown-linux-musl",
        machine: EM_X86_64,
        class64: true,
        big_endian: false,
        static_pie_ok: true,
        mips_soft_float: false,
    },
];

fn dist_dir() -> PathBuf {
    match std::env::var_os("SIPALG_DIST") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("dist"),
    }
}

fn require_setting() -> Option<String> {
    std::env::var("SIPALG_REQUIRE_CROSS")
        .ok()
        .map(|v| v.trim().to_string())
}

/// Is this triple's binary mandatory? (`1`/empty only require "at least one": see
/// `at_least_one_binary_when_required`.)
fn required(triple: &str) -> bool {
    match require_setting() {
        None => false,
        Some(v) if v.is_empty() || v == "1" => false,
        Some(v) if v == "all" => true,
        Some(v) => v
            .split(|c: char| c == ',' || c.is_whitespace())
            .any(|t| t == triple),
    }
}

/// A minimal ELF reader: just what the checks need, bounds-checked.
struct Elf<'a> {
    b: &'a [u8],
    class64: bool,
    big: bool,
}

impl<'a> Elf<'a> {
    fn parse(b: &'a [u8]) -> Result<Self, String> {
        if b.len() < 52 || &b[..4] != b"\x7fELF" {
            return Err("not an ELF file".into());
        }
        let class64 = match b[4] {
            1 => false,
            2 => true,
            c => return Err(format!("bad EI_CLASS {c}")),
        };
        let big = match b[5] {
            1 => false,
            2 => true,
            d => return Err(format!("bad EI_DATA {d}")),
        };
        Ok(Elf { b, class64, big })
    }
    fn bytes<const N: usize>(&self, off: u64) -> Result<[u8; N], String> {
        let off = usize::try_from(off).map_err(|_| "offset overflow")?;
        self.b
            .get(off..off + N)
            .map(|s| s.try_into().unwrap())
            .ok_or_else(|| format!("truncated ELF: need {N} bytes at {off:#x}"))
    }
    fn u8(&self, off: u64) -> Result<u8, String> {
        Ok(self.bytes::<1>(off)?[0])
    }
    fn u16(&self, off: u64) -> Result<u16, String> {
        let a = self.bytes(off)?;
        Ok(if self.big {
            u16::from_be_bytes(a)
        } else {
            u16::from_le_bytes(a)
        })
    }
    fn u32(&self, off: u64) -> Result<u32, String> {
        let a = self.bytes(off)?;
        Ok(if self.big {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        })
    }
    fn u64(&self, off: u64) -> Result<u64, String> {
        let a = self.bytes(off)?;
        Ok(if self.big {
            u64::from_be_bytes(a)
        } else {
            u64::from_le_bytes(a)
        })
    }
    /// a word: 4 bytes for ELFCLASS32, 8 for ELFCLASS64
    fn word(&self, off: u64) -> Result<u64, String> {
        if self.class64 {
            self.u64(off)
        } else {
            self.u32(off).map(u64::from)
        }
    }
    fn e_type(&self) -> Result<u16, String> {
        self.u16(16)
    }
    fn e_machine(&self) -> Result<u16, String> {
        self.u16(18)
    }
    fn e_flags(&self) -> Result<u32, String> {
        self.u32(if self.class64 { 48 } else { 36 })
    }
    /// (p_type, p_offset, p_filesz) of every program header
    fn phdrs(&self) -> Result<Vec<(u32, u64, u64)>, String> {
        let (phoff, entsize, num) = if self.class64 {
            (self.u64(32)?, self.u16(54)?, self.u16(56)?)
        } else {
            (u64::from(self.u32(28)?), self.u16(42)?, self.u16(44)?)
        };
        (0..u64::from(num))
            .map(|i| {
                let p = phoff + i * u64::from(entsize);
                Ok(if self.class64 {
                    (self.u32(p)?, self.u64(p + 8)?, self.u64(p + 32)?)
                } else {
                    (
                        self.u32(p)?,
                        u64::from(self.u32(p + 4)?),
                        u64::from(self.u32(p + 16)?),
                    )
                })
            })
            .collect()
    }
}

fn check(x: &Expect) -> Result<Option<String>, String> {
    let path = dist_dir().join(x.triple).join("sipalgd");
    let data = match std::fs::read(&path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let elf = Elf::parse(&data)?;
    let mut notes = Vec::new();
    let size = data.len() as u64;
    if size > BUDGET {
        return Err(format!("{size} bytes > budget {BUDGET}"));
    }
    if elf.class64 != x.class64 {
        return Err(format!(
            "ELFCLASS{} expected",
            if x.class64 { 64 } else { 32 }
        ));
    }
    if elf.big != x.big_endian {
        return Err(format!(
            "EI_DATA: expected {}-endian",
            if x.big_endian { "big" } else { "little" }
        ));
    }
    let m = elf.e_machine()?;
    if m != x.machine {
        return Err(format!("e_machine {m}, expected {}", x.machine));
    }
    let phdrs = elf.phdrs()?;
    if phdrs.iter().any(|p| p.0 == PT_INTERP) {
        return Err("has PT_INTERP: dynamically linked (needs a loader)".into());
    }
    match elf.e_type()? {
        ET_EXEC => notes.push("static".to_string()),
        ET_DYN if x.static_pie_ok => {
            // static-pie: PT_DYNAMIC for self-relocation only, no DT_NEEDED
            if let Some(&(_, off, sz)) = phdrs.iter().find(|p| p.0 == PT_DYNAMIC) {
                let ent = if elf.class64 { 16 } else { 8 };
                for i in 0..sz / ent {
                    let tag = elf.word(off + i * ent)?;
                    if tag == 0 {
                        break;
                    }
                    if tag == DT_NEEDED {
                        return Err("static-pie with DT_NEEDED: not self-contained".into());
                    }
                }
            }
            notes.push("static-pie".to_string());
        }
        t => {
            return Err(format!(
                "e_type {t}: expected ET_EXEC (or ET_DYN static-pie)"
            ))
        }
    }
    if x.machine == EM_MIPS {
        let f = elf.e_flags()?;
        if f & EF_MIPS_ARCH != E_MIPS_ARCH_32R2 {
            return Err(format!("e_flags {f:#010x}: not mips32r2"));
        }
        if f & EF_MIPS_ABI != E_MIPS_ABI_O32 || f & EF_MIPS_ABI2 != 0 {
            return Err(format!("e_flags {f:#010x}: not the o32 ABI"));
        }
        if f & EF_MIPS_FP64 != 0 {
            return Err(format!("e_flags {f:#010x}: EF_MIPS_FP64 set"));
        }
        // the float ABI is not in e_flags: it is in .MIPS.abiflags (PT_MIPS_ABIFLAGS)
        let &(_, off, sz) = phdrs
            .iter()
            .find(|p| p.0 == PT_MIPS_ABIFLAGS)
            .ok_or("no PT_MIPS_ABIFLAGS: cannot tell the float ABI")?;
        if sz < 24 {
            return Err(format!(".MIPS.abiflags too short ({sz})"));
        }
        let isa_rev = elf.u8(off + 3)?;
        let cpr1_size = elf.u8(off + 5)?;
        let fp_abi = elf.u8(off + 7)?;
        if x.mips_soft_float {
            if fp_abi != VAL_GNU_MIPS_ABI_FP_SOFT {
                return Err(format!(
                    ".MIPS.abiflags fp_abi {fp_abi}, expected {VAL_GNU_MIPS_ABI_FP_SOFT} \
                     (soft-float): linked against a hard-float libc?"
                ));
            }
            if cpr1_size != AFL_REG_NONE {
                return Err(format!(
                    ".MIPS.abiflags cpr1_size {cpr1_size}: expects an FPU"
                ));
            }
        }
        notes.push(format!(
            "e_flags {f:#010x}, mips32r{isa_rev}, fp_abi {fp_abi} (soft)"
        ));
    }
    Ok(Some(format!("{size} bytes, {}", notes.join(", "))))
}

fn run(triple: &str) {
    let x = TARGETS.iter().find(|x| x.triple == triple).unwrap();
    let path = dist_dir().join(triple).join("sipalgd");
    match check(x) {
        Ok(Some(summary)) => println!("{triple}: ok: {summary}"),
        Ok(None) if required(triple) => panic!(
            "{}: missing, and SIPALG_REQUIRE_CROSS requires it (run openwrt/cross-build.sh {triple})",
            path.display()
        ),
        Ok(None) => println!(
            "{triple}: {} missing: skipped (run openwrt/cross-build.sh; set SIPALG_REQUIRE_CROSS to require it)",
            path.display()
        ),
        Err(e) => panic!("{}: {e}", path.display()),
    }
}

#[test]
fn mipsel_soft_float_static() {
    run("mipsel-unknown-linux-musl");
}

#[test]
fn mips_big_endian_soft_float_static() {
    run("mips-unknown-linux-musl");
}

#[test]
fn aarch64_static() {
    run("aarch64-unknown-linux-musl");
}

#[test]
fn x86_64_static_pie() {
    run("x86_64-unknown-linux-musl");
}

#[test]
fn at_least_one_binary_when_required() {
    let present: Vec<&str> = TARGETS
        .iter()
        .map(|x| x.triple)
        .filter(|t| dist_dir().join(t).join("sipalgd").exists())
        .collect();
    println!("present in {}: {present:?}", dist_dir().display());
    if require_setting().is_some() {
        assert!(
            !present.is_empty(),
            "SIPALG_REQUIRE_CROSS is set but {} holds no <triple>/sipalgd: run openwrt/cross-build.sh",
            dist_dir().display()
        );
    }
}

#[test]
fn elf_reader_rejects_garbage_and_reads_both_byte_orders() {
    assert!(Elf::parse(b"not an elf at all, but long enough to be parsed as one?").is_err());
    let mut h = [0u8; 64];
    h[..4].copy_from_slice(b"\x7fELF");
    h[4] = 1; // ELFCLASS32
    h[5] = 2; // big-endian
    h[18..20].copy_from_slice(&8u16.to_be_bytes());
    h[36..40].copy_from_slice(&0x7000_1007u32.to_be_bytes());
    let e = Elf::parse(&h).unwrap();
    assert_eq!(e.e_machine().unwrap(), EM_MIPS);
    assert_eq!(e.e_flags().unwrap(), 0x7000_1007);
    h[5] = 1; // little-endian
    h[18..20].copy_from_slice(&183u16.to_le_bytes());
    assert_eq!(Elf::parse(&h).unwrap().e_machine().unwrap(), EM_AARCH64);
}
