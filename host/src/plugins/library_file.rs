//! Checks of a plugin library's file that run before the dynamic loader opens it.
//!
//! The loader maps a library's segments into memory straight from the file. A segment
//! that ends past the end of a truncated file maps pages with nothing behind them, and
//! the first touch of one kills the process with SIGBUS, before any error can be
//! returned. So the host reads an ELF file's program headers itself and rejects a file
//! too short for them.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

/// A file that is not a loadable library.
#[derive(Debug, thiserror::Error)]
pub enum FileProblem {
    /// Nothing at the path.
    #[error("does not exist: build it, or fix the path")]
    Missing,
    /// A directory at the path.
    #[error("is a directory: point the path at the library file")]
    Directory,
    /// A device, pipe or socket at the path.
    #[error("is not a regular file: point the path at the library file")]
    NotRegular,
    /// The file cannot be read.
    #[error("cannot be read")]
    Unreadable(#[source] io::Error),
    /// An ELF file shorter than its own headers require.
    #[error(
        "is truncated: it has {size} bytes, but its headers need {needed}; copy the whole \
         library again"
    )]
    Truncated {
        /// The file's length.
        size: u64,
        /// The end of the furthest segment or header table.
        needed: u64,
    },
}

/// Checks that `path` is a regular, readable file and, when it is ELF, that it is as long
/// as its program headers require.
///
/// # Errors
///
/// The [`FileProblem`] found.
pub fn check(path: &Path) -> Result<(), FileProblem> {
    let metadata = std::fs::metadata(path).map_err(|error| match error.kind() {
        io::ErrorKind::NotFound => FileProblem::Missing,
        _ => FileProblem::Unreadable(error),
    })?;
    if metadata.is_dir() {
        return Err(FileProblem::Directory);
    }
    if !metadata.is_file() {
        return Err(FileProblem::NotRegular);
    }
    let mut file = File::open(path).map_err(FileProblem::Unreadable)?;
    let size = metadata.len();
    match elf_extent(&mut file, size).map_err(FileProblem::Unreadable)? {
        Some(needed) if needed > size => Err(FileProblem::Truncated { size, needed }),
        _ => Ok(()),
    }
}

/// `PT_LOAD`: a program header that maps part of the file into memory.
const PT_LOAD: u32 = 1;

/// Returns how many bytes an ELF file needs for its program header table and every
/// loadable segment, or `None` when it is not ELF and the loader alone judges it.
fn elf_extent(file: &mut File, size: u64) -> io::Result<Option<u64>> {
    let mut ident = [0_u8; 64];
    let read = read_up_to(file, &mut ident)?;
    if read < 16 || ident[..4] != *b"\x7fELF" {
        return Ok(None);
    }
    let layout = match (ident[4], ident[5]) {
        (class @ (1 | 2), data @ (1 | 2)) => Layout {
            wide: class == 2,
            little: data == 1,
        },
        _ => return Ok(None),
    };
    let header_len = if layout.wide { 64 } else { 52 };
    if read < header_len {
        return Ok(Some(header_len as u64));
    }

    // ELF header fields, from the System V ABI's "ELF Header" table.
    let (phoff, entry_size, count) = if layout.wide {
        (
            layout.u64_at(&ident, 32),
            layout.u16_at(&ident, 54),
            layout.u16_at(&ident, 56),
        )
    } else {
        let phoff = u64::from(layout.u32_at(&ident, 28));
        (phoff, layout.u16_at(&ident, 42), layout.u16_at(&ident, 44))
    };
    let table_len = u64::from(entry_size) * u64::from(count);
    let table_end = phoff.saturating_add(table_len);
    if table_end > size || entry_size == 0 {
        return Ok(Some(table_end));
    }

    let mut table = vec![0_u8; usize::try_from(table_len).unwrap_or(0)];
    file.seek(SeekFrom::Start(phoff))?;
    file.read_exact(&mut table)?;
    let needed = table
        .chunks_exact(usize::from(entry_size))
        .filter(|header| layout.u32_at(header, 0) == PT_LOAD)
        .map(|header| layout.segment_end(header))
        .fold(table_end, u64::max);
    Ok(Some(needed))
}

/// The word size and byte order of an ELF file.
#[derive(Debug, Clone, Copy)]
struct Layout {
    wide: bool,
    little: bool,
}

impl Layout {
    /// Returns `p_offset + p_filesz` of a program header.
    fn segment_end(self, header: &[u8]) -> u64 {
        let (offset, file_size) = if self.wide {
            (self.u64_at(header, 8), self.u64_at(header, 32))
        } else {
            (
                u64::from(self.u32_at(header, 4)),
                u64::from(self.u32_at(header, 16)),
            )
        };
        offset.saturating_add(file_size)
    }

    fn u16_at(self, bytes: &[u8], at: usize) -> u16 {
        let field = field::<2>(bytes, at);
        if self.little {
            u16::from_le_bytes(field)
        } else {
            u16::from_be_bytes(field)
        }
    }

    fn u32_at(self, bytes: &[u8], at: usize) -> u32 {
        let field = field::<4>(bytes, at);
        if self.little {
            u32::from_le_bytes(field)
        } else {
            u32::from_be_bytes(field)
        }
    }

    fn u64_at(self, bytes: &[u8], at: usize) -> u64 {
        let field = field::<8>(bytes, at);
        if self.little {
            u64::from_le_bytes(field)
        } else {
            u64::from_be_bytes(field)
        }
    }
}

/// Returns the `N` bytes at `at`, or zeros where `bytes` ends first.
fn field<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    let mut field = [0_u8; N];
    if let Some(source) = bytes.get(at..at + N) {
        field.copy_from_slice(source);
    }
    field
}

/// Reads into `buffer` until it is full or the file ends, and returns the count read.
fn read_up_to(file: &mut File, buffer: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match file.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(read) => filled += read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Returns a path in a fresh temporary directory.
    fn scratch(name: &str) -> std::path::PathBuf {
        let directory = std::env::temp_dir().join(format!(
            "latchkey-library-file-{}-{name}",
            std::process::id()
        ));
        std::fs::create_dir_all(&directory).expect("temp dir");
        directory.join(name)
    }

    #[test]
    fn missing_and_directory_named() {
        let path = scratch("absent.so");
        assert!(matches!(check(&path), Err(FileProblem::Missing)));
        let directory = path.parent().expect("parent");
        assert!(matches!(check(directory), Err(FileProblem::Directory)));
    }

    #[test]
    fn device_is_not_regular() {
        assert!(matches!(
            check(Path::new("/dev/null")),
            Err(FileProblem::NotRegular)
        ));
    }

    #[test]
    fn this_test_binary_is_whole() {
        let binary = std::env::current_exe().expect("current exe");
        check(&binary).expect("a complete ELF file passes");
    }

    #[test]
    fn truncated_elf_rejected() {
        let exe = std::env::current_exe().expect("current exe");
        let binary = std::fs::read(&exe).expect("test binary readable");
        let mut file = File::open(&exe).expect("test binary opens");
        let extent = elf_extent(&mut file, binary.len() as u64)
            .expect("headers readable")
            .expect("the test binary is ELF");
        let last_segment_cut = usize::try_from(extent - 1).expect("fits");
        for length in [20, 100, 4096, last_segment_cut] {
            let path = scratch(&format!("truncated-{length}.so"));
            std::fs::write(&path, &binary[..length]).expect("copy written");
            let problem = check(&path).expect_err("truncated copy rejected");
            let FileProblem::Truncated { size, needed } = problem else {
                panic!("length {length}: {problem}");
            };
            assert_eq!(size, length as u64);
            assert!(needed > size, "length {length}: needs {needed}");
        }
    }

    #[test]
    fn other_formats_left_to_the_loader() {
        let path = scratch("text.so");
        std::fs::write(&path, "not a library").expect("written");
        check(&path).expect("not ELF, so not judged here");
    }
}
