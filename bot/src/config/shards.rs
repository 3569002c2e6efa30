//! Discord sharding settings: how many shards the bot has in all (`discord.shards`) and which
//! of them this process runs (`discord.shard_range`, inclusive: `"0-3"` or `2`), parsed once
//! into a `Sharding` the rest of the program trusts.

use std::fmt;
use std::ops::RangeInclusive;
use std::str::FromStr;

use serde::de::{self, Deserializer, Unexpected, Visitor};

/// What a shard range looks like in the settings, for error messages.
const RANGE_SHAPE: &str = "a shard ID or an inclusive range of them, such as 2 or 0-3";

/// An inclusive range of shard IDs as written in the settings: `"0-3"` or `"2"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardRange {
    pub first: u32,
    pub last: u32,
}

impl fmt::Display for ShardRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}-{}", self.first, self.last)
        }
    }
}

impl FromStr for ShardRange {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        let id = |part: &str| part.trim().parse::<u32>().map_err(|_| ());
        let (first, last) = match s.split_once('-') {
            Some((first, last)) => (id(first)?, id(last)?),
            None => {
                let only = id(s)?;
                (only, only)
            }
        };
        if first > last {
            return Err(());
        }
        Ok(ShardRange { first, last })
    }
}

impl<'de> serde::Deserialize<'de> for ShardRange {
    /// A string (`"0-3"`, `"2"`) or a bare number: the environment gives `2` as a number.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RangeVisitor;

        impl Visitor<'_> for RangeVisitor {
            type Value = ShardRange;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(RANGE_SHAPE)
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ShardRange, E> {
                let id = u32::try_from(v)
                    .map_err(|_| E::invalid_value(Unexpected::Unsigned(v), &RANGE_SHAPE))?;
                Ok(ShardRange {
                    first: id,
                    last: id,
                })
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ShardRange, E> {
                let id = u64::try_from(v)
                    .map_err(|_| E::invalid_value(Unexpected::Signed(v), &RANGE_SHAPE))?;
                self.visit_u64(id)
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<ShardRange, E> {
                v.parse()
                    .map_err(|()| E::invalid_value(Unexpected::Str(v), &RANGE_SHAPE))
            }
        }

        deserializer.deserialize_any(RangeVisitor)
    }
}

/// Which shards this process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharding {
    /// No sharding configured: one gateway connection, shard 0 of 1.
    Unsharded,
    /// Shards `first..=last` of `total`.
    Shards { first: u32, last: u32, total: u32 },
}

/// Why a sharding setting was refused; `Config::validate` names the variable to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShardingError {
    /// `discord.shards = 0`.
    NoShards,
    /// A range but no total: shard IDs mean nothing without it.
    RangeWithoutTotal(ShardRange),
    /// A range reaching past the last shard.
    OutOfRange { range: ShardRange, total: u32 },
}

impl Sharding {
    /// The plan `discord.shards` and `discord.shard_range` describe: a total alone runs every
    /// shard in this process.
    pub fn new(total: Option<u32>, range: Option<ShardRange>) -> Result<Sharding, ShardingError> {
        match (total, range) {
            (None, None) => Ok(Sharding::Unsharded),
            (None, Some(range)) => Err(ShardingError::RangeWithoutTotal(range)),
            (Some(0), _) => Err(ShardingError::NoShards),
            (Some(total), None) => Ok(Sharding::Shards {
                first: 0,
                last: total - 1,
                total,
            }),
            (Some(total), Some(range)) if range.last >= total => {
                Err(ShardingError::OutOfRange { range, total })
            }
            (Some(total), Some(range)) => Ok(Sharding::Shards {
                first: range.first,
                last: range.last,
                total,
            }),
        }
    }

    /// The shard IDs this process runs.
    pub fn ids(&self) -> RangeInclusive<u32> {
        match *self {
            Sharding::Unsharded => 0..=0,
            Sharding::Shards { first, last, .. } => first..=last,
        }
    }

    pub fn total(&self) -> u32 {
        match *self {
            Sharding::Unsharded => 1,
            Sharding::Shards { total, .. } => total,
        }
    }

    /// Whether this process runs shard 0: the one that registers the slash commands, so
    /// several processes never race to replace them.
    pub fn runs_shard_zero(&self) -> bool {
        self.ids().contains(&0)
    }

    /// Whether other processes run the rest of the shards.
    pub fn is_partial(&self) -> bool {
        let ids = self.ids();
        *ids.start() != 0 || *ids.end() + 1 != self.total()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_as_written() {
        assert_eq!("0-3".parse(), Ok(ShardRange { first: 0, last: 3 }));
        assert_eq!("2".parse(), Ok(ShardRange { first: 2, last: 2 }));
        assert_eq!(" 4 - 7 ".parse(), Ok(ShardRange { first: 4, last: 7 }));
        for bad in ["", "-", "3-1", "a-b", "1-", "-2", "1-2-3", "1..3"] {
            assert_eq!(bad.parse::<ShardRange>(), Err(()), "{bad:?}");
        }
        assert_eq!(ShardRange { first: 0, last: 3 }.to_string(), "0-3");
        assert_eq!(ShardRange { first: 2, last: 2 }.to_string(), "2");
    }

    #[test]
    fn a_total_alone_runs_every_shard_and_a_range_its_part() {
        assert_eq!(Sharding::new(None, None), Ok(Sharding::Unsharded));
        let all = Sharding::new(Some(4), None).unwrap();
        assert_eq!(all.ids(), 0..=3);
        assert!(all.runs_shard_zero() && !all.is_partial());
        let part = Sharding::new(Some(4), Some(ShardRange { first: 2, last: 3 })).unwrap();
        assert_eq!((part.ids(), part.total()), (2..=3, 4));
        assert!(!part.runs_shard_zero() && part.is_partial());
        assert!(!Sharding::Unsharded.is_partial());
    }

    #[test]
    fn impossible_plans_are_refused() {
        let range = ShardRange { first: 1, last: 2 };
        assert_eq!(
            Sharding::new(None, Some(range)),
            Err(ShardingError::RangeWithoutTotal(range))
        );
        assert_eq!(Sharding::new(Some(0), None), Err(ShardingError::NoShards));
        assert_eq!(
            Sharding::new(Some(2), Some(range)),
            Err(ShardingError::OutOfRange { range, total: 2 })
        );
    }
}
