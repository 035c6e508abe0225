//! Voxel storage: a typed buffer that is either owned or a zero-copy view of a memory-mapped
//! `.nii` file, and [`VoxelData`], the enum over every supported type.

use std::fmt;
#[cfg(feature = "mmap")]
use std::sync::Arc;

#[cfg(feature = "mmap")]
use memmap2::{Mmap, MmapMut};

use crate::datatype::{DataType, Element};

/// A typed, x-fastest voxel buffer: a `Vec`, a read-only view of a memory-mapped file, or a
/// private anonymous mapping (large buffers the reader fills, advised to use huge pages so the
/// first touch costs a few page faults instead of tens of thousands).
///
/// Reading through it is the same either way (`as_slice`); `make_mut` copies a file mapping
/// into memory the first time it is modified, so the file is never written.
#[derive(Clone)]
pub struct Storage<T: Element> {
    repr: Repr<T>,
}

#[derive(Clone)]
enum Repr<T> {
    Owned(Vec<T>),
    #[cfg(feature = "mmap")]
    Mapped {
        map: Arc<Mmap>,
        offset: usize,
        len: usize,
    },
    #[cfg(feature = "mmap")]
    Anon {
        map: Arc<MmapMut>,
        offset: usize,
        len: usize,
    },
}

impl<T: Element> fmt::Debug for Storage<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Storage")
            .field("dtype", &T::DTYPE)
            .field("len", &self.len())
            .field("mapped", &self.is_mapped())
            .finish()
    }
}

impl<T: Element> Storage<T> {
    /// Owned storage.
    pub fn from_vec(v: Vec<T>) -> Storage<T> {
        Storage { repr: Repr::Owned(v) }
    }

    /// `len` zeros in a fresh buffer for a kernel to write into: large buffers are anonymous
    /// mappings advised to use transparent huge pages, so their first touch costs a few page
    /// faults instead of one per 4 KiB.
    pub fn zeroed(len: usize) -> std::io::Result<Storage<T>> {
        let bytes = len
            .checked_mul(size_of::<T>())
            .ok_or_else(|| std::io::Error::other(format!("{len} values of {} do not fit in memory", T::DTYPE)))?;
        #[cfg(feature = "mmap")]
        if bytes >= crate::buffer::HUGE_BUFFER_BYTES {
            let map = crate::buffer::huge_zeroed(bytes)?;
            return Storage::anon(map, 0, len).ok_or_else(|| std::io::Error::other("a fresh mapping is page-aligned"));
        }
        Ok(Storage::from_vec(vec![T::zeroed(); bytes / size_of::<T>()]))
    }

    /// A view of `len` values at byte `offset` of a mapping, when the range lies inside it and
    /// the offset is aligned for `T`.
    #[cfg(feature = "mmap")]
    pub(crate) fn mapped(map: Arc<Mmap>, offset: usize, len: usize) -> Option<Storage<T>> {
        let bytes = len.checked_mul(std::mem::size_of::<T>())?;
        let region = map.get(offset..offset.checked_add(bytes)?)?;
        bytemuck::try_cast_slice::<u8, T>(region).ok()?;
        Some(Storage { repr: Repr::Mapped { map, offset, len } })
    }

    /// A view of `len` values at byte `offset` of an anonymous mapping, when the range lies
    /// inside it and the offset is aligned for `T`.
    #[cfg(feature = "mmap")]
    pub(crate) fn anon(map: MmapMut, offset: usize, len: usize) -> Option<Storage<T>> {
        let bytes = len.checked_mul(std::mem::size_of::<T>())?;
        let region = map.get(offset..offset.checked_add(bytes)?)?;
        bytemuck::try_cast_slice::<u8, T>(region).ok()?;
        Some(Storage { repr: Repr::Anon { map: Arc::new(map), offset, len } })
    }

    /// The values.
    pub fn as_slice(&self) -> &[T] {
        match &self.repr {
            Repr::Owned(v) => v,
            // Range and alignment were checked when the views were made.
            #[cfg(feature = "mmap")]
            Repr::Mapped { map, offset, len } => bytemuck::cast_slice(&map[*offset..*offset + *len * size_of::<T>()]),
            #[cfg(feature = "mmap")]
            Repr::Anon { map, offset, len } => bytemuck::cast_slice(&map[*offset..*offset + *len * size_of::<T>()]),
        }
    }

    /// The values, mutable. A file mapping (or a shared anonymous one) is copied into memory
    /// first.
    pub fn make_mut(&mut self) -> &mut [T] {
        #[cfg(feature = "mmap")]
        let unique_anon =
            matches!(&self.repr, Repr::Anon { map, .. } if Arc::strong_count(map) == 1 && Arc::weak_count(map) == 0);
        #[cfg(not(feature = "mmap"))]
        let unique_anon = false;
        if !unique_anon && !matches!(self.repr, Repr::Owned(_)) {
            self.repr = Repr::Owned(self.as_slice().to_vec());
        }
        match &mut self.repr {
            Repr::Owned(v) => v,
            #[cfg(feature = "mmap")]
            Repr::Anon { map, offset, len } => match Arc::get_mut(map) {
                Some(m) => bytemuck::cast_slice_mut(&mut m[*offset..*offset + *len * size_of::<T>()]),
                None => unreachable!("a shared mapping was copied above"),
            },
            #[cfg(feature = "mmap")]
            Repr::Mapped { .. } => unreachable!("converted to owned above"),
        }
    }

    /// The values as an owned vector (a copy when mapped).
    pub fn into_vec(self) -> Vec<T> {
        match self.repr {
            Repr::Owned(v) => v,
            #[cfg(feature = "mmap")]
            Repr::Mapped { .. } | Repr::Anon { .. } => self.as_slice().to_vec(),
        }
    }

    /// The number of values.
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Owned(v) => v.len(),
            #[cfg(feature = "mmap")]
            Repr::Mapped { len, .. } | Repr::Anon { len, .. } => *len,
        }
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the values are read straight from a memory-mapped file.
    pub fn is_mapped(&self) -> bool {
        #[cfg(feature = "mmap")]
        return matches!(self.repr, Repr::Mapped { .. });
        #[cfg(not(feature = "mmap"))]
        false
    }
}

/// The stored voxel values of a volume, in their stored type, x-fastest (NIfTI order).
#[derive(Clone, Debug)]
#[allow(missing_docs)] // One variant per DataType, named the same.
pub enum VoxelData {
    U8(Storage<u8>),
    I8(Storage<i8>),
    U16(Storage<u16>),
    I16(Storage<i16>),
    U32(Storage<u32>),
    I32(Storage<i32>),
    U64(Storage<u64>),
    I64(Storage<i64>),
    F32(Storage<f32>),
    F64(Storage<f64>),
}

/// Runs `$body` with the type alias `$t` for the element type of a [`crate::DataType`]: for
/// generic code over the stored type of a file not read yet (a [`crate::SliceReader`]).
#[macro_export]
#[doc(hidden)]
macro_rules! with_dtype {
    ($dtype:expr, $t:ident => $body:expr) => {
        match $dtype {
            $crate::DataType::U8 => {
                type $t = u8;
                $body
            }
            $crate::DataType::I8 => {
                type $t = i8;
                $body
            }
            $crate::DataType::U16 => {
                type $t = u16;
                $body
            }
            $crate::DataType::I16 => {
                type $t = i16;
                $body
            }
            $crate::DataType::U32 => {
                type $t = u32;
                $body
            }
            $crate::DataType::I32 => {
                type $t = i32;
                $body
            }
            $crate::DataType::U64 => {
                type $t = u64;
                $body
            }
            $crate::DataType::I64 => {
                type $t = i64;
                $body
            }
            $crate::DataType::F32 => {
                type $t = f32;
                $body
            }
            $crate::DataType::F64 => {
                type $t = f64;
                $body
            }
        }
    };
}

/// Runs `$body` with `$s` bound to the typed storage inside a [`VoxelData`] (and `$t` to its
/// element type when given), whatever the variant.
#[macro_export]
#[doc(hidden)]
macro_rules! with_storage {
    ($data:expr, $s:ident => $body:expr) => {
        match $data {
            $crate::VoxelData::U8($s) => $body,
            $crate::VoxelData::I8($s) => $body,
            $crate::VoxelData::U16($s) => $body,
            $crate::VoxelData::I16($s) => $body,
            $crate::VoxelData::U32($s) => $body,
            $crate::VoxelData::I32($s) => $body,
            $crate::VoxelData::U64($s) => $body,
            $crate::VoxelData::I64($s) => $body,
            $crate::VoxelData::F32($s) => $body,
            $crate::VoxelData::F64($s) => $body,
        }
    };
}

impl VoxelData {
    /// Owned data from a vector of any supported type.
    pub fn from_vec<T: Element>(v: Vec<T>) -> VoxelData {
        T::wrap(Storage::from_vec(v))
    }

    /// The stored type.
    pub fn dtype(&self) -> DataType {
        fn of<T: Element>(_: &Storage<T>) -> DataType {
            T::DTYPE
        }
        with_storage!(self, s => of(s))
    }

    /// The number of values.
    pub fn len(&self) -> usize {
        with_storage!(self, s => s.len())
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the values are read straight from a memory-mapped file.
    pub fn is_mapped(&self) -> bool {
        with_storage!(self, s => s.is_mapped())
    }

    /// The values as a slice of `T`, when `T` is the stored type.
    pub fn as_slice<T: Element>(&self) -> Option<&[T]> {
        T::storage(self).map(Storage::as_slice)
    }

    /// The raw bytes of the values, native byte order.
    pub fn as_bytes(&self) -> &[u8] {
        with_storage!(self, s => bytemuck::cast_slice(s.as_slice()))
    }
}

#[cfg(all(test, feature = "mmap"))]
mod tests {
    use super::*;

    #[test]
    fn anonymous_storage_is_copied_on_write_only_when_shared() {
        let mut map = MmapMut::map_anon(64).expect("maps");
        map[8..16].copy_from_slice(&[1, 0, 2, 0, 3, 0, 4, 0]);
        let mut a = Storage::<u16>::anon(map, 8, 4).expect("aligned");
        assert_eq!(a.as_slice(), &[1, 2, 3, 4]);
        let b = a.clone();
        a.make_mut()[0] = 9;
        assert_eq!(a.as_slice(), &[9, 2, 3, 4]);
        assert_eq!(b.as_slice(), &[1, 2, 3, 4], "the clone keeps its values");
        let mut b = b;
        b.make_mut()[1] = 7; // unique now: changed in place
        assert_eq!(b.into_vec(), vec![1, 7, 3, 4]);
        let odd = MmapMut::map_anon(64).expect("maps");
        assert!(Storage::<u32>::anon(odd, 2, 4).is_none(), "misaligned offsets are refused");
    }
}
