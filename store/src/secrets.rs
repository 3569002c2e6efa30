//! Secrets a guild gives us (its own LLM API key), sealed at rest with ChaCha20-Poly1305 under
//! the instance's master key. A row records which master key sealed it (a keyed hash of the key,
//! never the key), and the guild's ID and the secret's name are the cipher's associated data, so
//! a ciphertext copied to another guild or name fails to open. Plaintext only ever leaves as a
//! `SecretString`, which `Debug` cannot print.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use secrecy::zeroize::Zeroize;
use secrecy::{ExposeSecret, SecretString};

use crate::{Result, Store, on_pool, on_pool_once, ts};

/// The one secret a guild can set today: the API key its own model calls use.
pub const LLM_API_KEY: &str = "llm_api_key";

/// Bytes in a master key.
pub const MASTER_KEY_LEN: usize = 32;

/// The instance's master key (`SUPPORTBOT_MASTER_KEY`: 32 random bytes, base64). `Debug` shows
/// its ID only.
pub struct MasterKey {
    key: LessSafeKey,
    id: String,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterKey").field("id", &self.id).finish()
    }
}

/// Why a master key was refused. Never quotes the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MasterKeyError {
    #[error("text that is not base64")]
    NotBase64,
    #[error("{0} bytes")]
    WrongLength(usize),
}

impl MasterKey {
    /// Reads a key written as standard base64 (`openssl rand -base64 32`), padding optional,
    /// surrounding whitespace ignored.
    pub fn from_base64(text: &str) -> Result<Self, MasterKeyError> {
        let text = text.trim();
        let engine = base64::engine::GeneralPurpose::new(
            &base64::alphabet::STANDARD,
            base64::engine::GeneralPurposeConfig::new()
                .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
        );
        let mut bytes = engine.decode(text).map_err(|_| MasterKeyError::NotBase64)?;
        let key = Self::from_bytes(&bytes);
        bytes.zeroize();
        key
    }

    /// A key from its 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, MasterKeyError> {
        if bytes.len() != MASTER_KEY_LEN {
            return Err(MasterKeyError::WrongLength(bytes.len()));
        }
        // A keyed hash of a fixed label: names the key without revealing anything about it.
        let tag = ring::hmac::sign(
            &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, bytes),
            b"supportbot master key id v1",
        );
        let id = tag.as_ref()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let key = UnboundKey::new(&CHACHA20_POLY1305, bytes)
            .expect("a 32-byte key is what ChaCha20-Poly1305 takes");
        Ok(MasterKey {
            key: LessSafeKey::new(key),
            id,
        })
    }

    /// Sixteen hex digits that name this key in each row it sealed.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn seal(&self, guild_id: i64, name: &str, value: &SecretString) -> Result<Sealed, SecretError> {
        // Random 96-bit nonces: safe for far more secrets than one instance will ever seal
        // under one key (a handful per guild).
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| SecretError::Random)?;
        let mut buffer = value.expose_secret().as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(associated_data(guild_id, name)),
                &mut buffer,
            )
            .map_err(|_| SecretError::Random)?;
        Ok(Sealed {
            nonce: nonce.to_vec(),
            ciphertext: buffer,
        })
    }

    fn open(
        &self,
        guild_id: i64,
        name: &str,
        nonce: &[u8],
        ciphertext: &[u8],
    ) -> Result<SecretString, SecretError> {
        let fails = || SecretError::DoesNotOpen {
            guild_id,
            name: name.to_string(),
        };
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| fails())?;
        let mut buffer = ciphertext.to_vec();
        let opened = self
            .key
            .open_in_place(
                nonce,
                Aad::from(associated_data(guild_id, name)),
                &mut buffer,
            )
            .map(|plain| String::from_utf8(plain.to_vec()));
        buffer.zeroize();
        match opened {
            Ok(Ok(text)) => Ok(SecretString::from(text)),
            Ok(Err(not_utf8)) => {
                not_utf8.into_bytes().zeroize();
                Err(fails())
            }
            Err(_) => Err(fails()),
        }
    }
}

fn associated_data(guild_id: i64, name: &str) -> Vec<u8> {
    format!("supportbot guild secret v1\0{guild_id}\0{name}").into_bytes()
}

struct Sealed {
    nonce: Vec<u8>,
    ciphertext: Vec<u8>,
}

/// A stored secret that cannot be read. Never carries the value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error(
        "guild {guild_id}'s secret {name} was sealed under master key {key_id}, not the one \
         configured; finish `supportbot data rotate-master-key` with the old key in \
         SUPPORTBOT_MASTER_KEY_OLD"
    )]
    OtherKey {
        guild_id: i64,
        name: String,
        key_id: String,
    },
    #[error(
        "guild {guild_id}'s secret {name} does not open with the master key: it was altered, \
         or copied from another guild"
    )]
    DoesNotOpen { guild_id: i64, name: String },
    #[error("the system's random number generator failed")]
    Random,
}

/// That a guild has a secret, without its value: what exports and listings show.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct StoredSecret {
    pub guild_id: i64,
    pub name: String,
    /// The master key that sealed it.
    pub key_id: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What re-sealing every secret under a new master key did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rotation {
    /// Sealed under the old key, now under the new one.
    pub resealed: u64,
    /// Already under the new key (a rotation run before, or a secret set since).
    pub already_current: u64,
}

#[derive(sqlx::FromRow)]
struct SecretRow {
    guild_id: i64,
    name: String,
    key_id: String,
    nonce: Vec<u8>,
    ciphertext: Vec<u8>,
}

impl Store {
    /// Seals `value` under `key` and stores it as the guild's secret `name`, replacing any
    /// earlier one at once. Creates the guild's row if the bot has not seen the guild yet.
    pub async fn set_guild_secret(
        &self,
        guild_id: i64,
        name: &str,
        value: &SecretString,
        key: &MasterKey,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let sealed = key.seal(guild_id, name, value)?;
        let now = ts(now);
        on_pool_once!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO guilds (guild_id, joined_at, created_at, updated_at) VALUES ($1, $2, $2, $2)
                 ON CONFLICT (guild_id) DO NOTHING",
            )
            .bind(guild_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO guild_secrets (guild_id, name, key_id, nonce, ciphertext, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $6)
                 ON CONFLICT (guild_id, name) DO UPDATE SET key_id = $3, nonce = $4,
                     ciphertext = $5, updated_at = $6",
            )
            .bind(guild_id)
            .bind(name)
            .bind(key.id())
            .bind(&sealed.nonce)
            .bind(&sealed.ciphertext)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// The guild's secret `name`, opened with `key`; read from the database on every call, so
    /// a replaced or cleared secret stops being used at once.
    pub async fn guild_secret(
        &self,
        guild_id: i64,
        name: &str,
        key: &MasterKey,
    ) -> Result<Option<SecretString>> {
        let row: Option<SecretRow> = on_pool!(self, pool => sqlx::query_as(
            "SELECT guild_id, name, key_id, nonce, ciphertext FROM guild_secrets
             WHERE guild_id = $1 AND name = $2",
        )
        .bind(guild_id)
        .bind(name)
        .fetch_optional(pool)
        .await)?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(open_row(&row, key)?))
    }

    /// Removes the guild's secret `name`; false when there was none.
    pub async fn delete_guild_secret(&self, guild_id: i64, name: &str) -> Result<bool> {
        let deleted = on_pool!(self, pool => sqlx::query(
            "DELETE FROM guild_secrets WHERE guild_id = $1 AND name = $2",
        )
        .bind(guild_id)
        .bind(name)
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))?;
        Ok(deleted > 0)
    }

    /// The guild's secrets, without their values.
    pub async fn guild_secrets(&self, guild_id: i64) -> Result<Vec<StoredSecret>> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT guild_id, name, key_id, created_at, updated_at FROM guild_secrets
             WHERE guild_id = $1 ORDER BY name",
        )
        .bind(guild_id)
        .fetch_all(pool)
        .await)?)
    }

    /// Re-seals every secret of every guild from `old` to `new`, in one transaction: all move
    /// or none does. Secrets already under `new` are left as they are, so an interrupted
    /// rotation can simply be run again; a secret under any other key stops it.
    pub async fn rotate_master_key(&self, old: &MasterKey, new: &MasterKey) -> Result<Rotation> {
        let mut rotation = Rotation::default();
        on_pool_once!(self, pool => {
            let mut tx = pool.begin().await?;
            let rows: Vec<SecretRow> = sqlx::query_as(
                "SELECT guild_id, name, key_id, nonce, ciphertext FROM guild_secrets
                 ORDER BY guild_id, name",
            )
            .fetch_all(&mut *tx)
            .await?;
            for row in rows {
                if row.key_id == new.id() {
                    // Proves the row opens under the new key before calling it current.
                    open_row(&row, new)?;
                    rotation.already_current += 1;
                    continue;
                }
                let value = open_row(&row, old)?;
                let sealed = new.seal(row.guild_id, &row.name, &value)?;
                sqlx::query(
                    "UPDATE guild_secrets SET key_id = $3, nonce = $4, ciphertext = $5
                     WHERE guild_id = $1 AND name = $2",
                )
                .bind(row.guild_id)
                .bind(&row.name)
                .bind(new.id())
                .bind(&sealed.nonce)
                .bind(&sealed.ciphertext)
                .execute(&mut *tx)
                .await?;
                rotation.resealed += 1;
            }
            tx.commit().await?;
        });
        Ok(rotation)
    }
}

fn open_row(row: &SecretRow, key: &MasterKey) -> Result<SecretString, SecretError> {
    if row.key_id != key.id() {
        return Err(SecretError::OtherKey {
            guild_id: row.guild_id,
            name: row.name.clone(),
            key_id: row.key_id.clone(),
        });
    }
    key.open(row.guild_id, &row.name, &row.nonce, &row.ciphertext)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> MasterKey {
        MasterKey::from_bytes(&[byte; MASTER_KEY_LEN]).unwrap()
    }

    #[test]
    fn a_master_key_is_32_bytes_of_base64_and_never_printed() {
        let text = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        let k = MasterKey::from_base64(&format!(" {text}\n")).unwrap();
        assert_eq!(k.id().len(), 16);
        assert_eq!(k.id(), key(7).id(), "the ID depends on the key alone");
        assert_ne!(k.id(), key(8).id());
        let shown = format!("{k:?}");
        assert!(shown.contains(k.id()) && !shown.contains(&text), "{shown}");
        assert_eq!(
            MasterKey::from_base64("c2hvcnQ=").unwrap_err(),
            MasterKeyError::WrongLength(5)
        );
        assert_eq!(
            MasterKey::from_base64("not base64 at all!").unwrap_err(),
            MasterKeyError::NotBase64
        );
        let unpadded = text.trim_end_matches('=');
        assert_eq!(MasterKey::from_base64(unpadded).unwrap().id(), k.id());
    }

    #[test]
    fn a_sealed_secret_opens_only_for_its_guild_name_and_key() {
        let k = key(1);
        let value = SecretString::from("sk-guild-own-key");
        let sealed = k.seal(42, LLM_API_KEY, &value).unwrap();
        assert!(
            !sealed
                .ciphertext
                .windows(6)
                .any(|w| w == b"sk-gui" || w == b"own-ke"),
            "the ciphertext does not carry the plaintext"
        );
        let opened = k
            .open(42, LLM_API_KEY, &sealed.nonce, &sealed.ciphertext)
            .unwrap();
        assert_eq!(opened.expose_secret(), "sk-guild-own-key");
        assert!(matches!(
            k.open(43, LLM_API_KEY, &sealed.nonce, &sealed.ciphertext),
            Err(SecretError::DoesNotOpen { guild_id: 43, .. })
        ));
        assert!(
            k.open(42, "other", &sealed.nonce, &sealed.ciphertext)
                .is_err()
        );
        assert!(
            key(2)
                .open(42, LLM_API_KEY, &sealed.nonce, &sealed.ciphertext)
                .is_err()
        );
        let mut flipped = sealed.ciphertext.clone();
        flipped[0] ^= 1;
        assert!(k.open(42, LLM_API_KEY, &sealed.nonce, &flipped).is_err());
        let again = k.seal(42, LLM_API_KEY, &value).unwrap();
        assert_ne!(again.nonce, sealed.nonce, "every seal takes a fresh nonce");
    }
}
