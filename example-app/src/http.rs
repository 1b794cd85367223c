//! The HTTP API: `/health` and a small `users` resource. Every error is JSON
//! (`{"error": {"code": "...", "message": "..."}}`) with the matching status code.

use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use revchain::url::Redactor;
use serde::Deserialize;
use serde_json::json;

use crate::MIGRATIONS;
use crate::clock;
use crate::db::{CreateError, Db, is_unavailable, message};

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    /// Removes the database password from anything logged.
    pub redactor: Arc<Redactor>,
}

/// The routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/users", get(list_users).post(create_user))
        .route("/users/{id}", get(get_user))
        .route("/users/{id}/events", get(user_events))
        .route("/activity", get(activity))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
    }

    /// A database failure: the details go to the log, not to the client.
    fn database(state: &AppState, e: &sqlx::Error) -> ApiError {
        let detail = state.redactor.scrub_message(&message(e));
        if is_unavailable(e) {
            tracing::warn!("database unavailable: {detail}");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "database_unavailable",
                "the database cannot be reached; try again later",
            )
        } else {
            tracing::error!("database error: {detail}");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the database failed to answer; the server log has the details",
            )
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({ "error": { "code": self.code, "message": self.message } })),
        )
            .into_response()
    }
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no route for {method} {}", uri.path()),
    )
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not allowed on {}", uri.path()),
    )
}

/// `GET /health`: 200 with the database's revision and whether it is at the head this
/// binary embeds; 503 when the database cannot be read.
async fn health(State(state): State<AppState>) -> Response {
    let head: Vec<&str> = MIGRATIONS.heads().map(|r| r.id()).collect();
    let database = state.db.kind().to_string();
    match state.db.current(&MIGRATIONS).await {
        Ok(current) => {
            let mut ids: Vec<&str> = current.iter().map(|h| h.id.as_str()).collect();
            ids.sort_unstable();
            let mut wanted = head.clone();
            wanted.sort_unstable();
            let at_head = ids == wanted;
            (
                StatusCode::OK,
                Json(json!({
                    "status": "ok",
                    "database": database,
                    "revision": if ids.is_empty() { None } else { Some(ids.join(", ")) },
                    "head": head.join(", "),
                    "at_head": at_head,
                })),
            )
                .into_response()
        }
        Err(e) => {
            let detail = state.redactor.scrub_message(&e.to_string());
            tracing::warn!("health check: {detail}");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({
                    "status": "unavailable",
                    "database": database,
                    "head": head.join(", "),
                    "error": detail,
                })),
            )
                .into_response()
        }
    }
}

/// The body of `POST /users`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    email: String,
    name: String,
}

/// The longest email and name the schema holds (in characters).
const MAX_EMAIL: usize = 255;
const MAX_NAME: usize = 100;

/// Checks and normalises a new user: the email trimmed and lower-cased, the name trimmed.
pub fn validate(new: &NewUser) -> Result<(String, String), ApiError> {
    let email = new.email.trim().to_lowercase();
    let name = new.name.trim().to_owned();
    let valid_email = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    };
    if !valid_email {
        return Err(ApiError::invalid("`email` must look like name@example.com"));
    }
    if email.chars().count() > MAX_EMAIL {
        return Err(ApiError::invalid(format!(
            "`email` is longer than {MAX_EMAIL} characters"
        )));
    }
    if name.is_empty() {
        return Err(ApiError::invalid("`name` must not be empty"));
    }
    if name.chars().count() > MAX_NAME {
        return Err(ApiError::invalid(format!(
            "`name` is longer than {MAX_NAME} characters"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            "`name` must not contain control characters",
        ));
    }
    Ok((email, name))
}

fn json_rejection(r: &JsonRejection) -> ApiError {
    let status = r.status();
    let code = match status {
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid",
        _ => "bad_request",
    };
    ApiError::new(status, code, r.body_text())
}

/// `POST /users` with `{"email": "...", "name": "..."}`: 201 and the user.
async fn create_user(
    State(state): State<AppState>,
    body: Result<Json<NewUser>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(new) = body.map_err(|r| json_rejection(&r))?;
    let (email, name) = validate(&new)?;
    match state.db.create_user(&email, &name, &clock::now()).await {
        Ok(user) => Ok((
            StatusCode::CREATED,
            [(header::LOCATION, format!("/users/{}", user.id))],
            Json(user),
        )
            .into_response()),
        Err(CreateError::EmailTaken) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("a user with email {email} already exists"),
        )),
        Err(CreateError::Db(e)) => Err(ApiError::database(&state, &e)),
    }
}

fn user_id(id: Result<Path<i64>, PathRejection>) -> Result<i64, ApiError> {
    match id {
        Ok(Path(id)) => Ok(id),
        Err(_) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "the user id must be an integer",
        )),
    }
}

fn no_such_user(id: i64) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("there is no user {id}"),
    )
}

/// `GET /users/{id}`.
async fn get_user(
    State(state): State<AppState>,
    id: Result<Path<i64>, PathRejection>,
) -> Result<Response, ApiError> {
    let id = user_id(id)?;
    match state.db.user(id).await {
        Ok(Some(user)) => Ok(Json(user).into_response()),
        Ok(None) => Err(no_such_user(id)),
        Err(e) => Err(ApiError::database(&state, &e)),
    }
}

/// `GET /users/{id}/events`: the user's history, by time.
async fn user_events(
    State(state): State<AppState>,
    id: Result<Path<i64>, PathRejection>,
) -> Result<Response, ApiError> {
    let id = user_id(id)?;
    match state.db.user(id).await {
        Ok(Some(_)) => {}
        Ok(None) => return Err(no_such_user(id)),
        Err(e) => return Err(ApiError::database(&state, &e)),
    }
    match state.db.events(id).await {
        Ok(events) => Ok(Json(json!({ "user_id": id, "events": events })).into_response()),
        Err(e) => Err(ApiError::database(&state, &e)),
    }
}

/// `GET /activity`: every user with their number of events, from the `user_activity` view
/// (a repeatable revision).
async fn activity(State(state): State<AppState>) -> Result<Response, ApiError> {
    match state.db.activity().await {
        Ok(users) => Ok(Json(json!({ "users": users })).into_response()),
        Err(e) => Err(ApiError::database(&state, &e)),
    }
}

/// The query of `GET /users`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// How many users (1 to 100, default 20).
    limit: Option<i64>,
    /// Only users with a greater id (the `next_after` of the previous page).
    after: Option<i64>,
}

/// `GET /users?limit=20&after=0`: a page of users, by id.
async fn list_users(
    State(state): State<AppState>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) =
        params.map_err(|r| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", r.body_text()))?;
    let limit = params.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "`limit` must be between 1 and 100",
        ));
    }
    let after = params.after.unwrap_or(0);
    // One more than asked tells whether there is a next page.
    match state.db.users(after, limit + 1).await {
        Ok(mut users) => {
            let more = users.len() > usize::try_from(limit).unwrap_or(usize::MAX);
            users.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
            let next = if more {
                users.last().map(|u| u.id)
            } else {
                None
            };
            Ok(Json(json!({ "users": users, "next_after": next })).into_response())
        }
        Err(e) => Err(ApiError::database(&state, &e)),
    }
}

#[cfg(test)]
mod tests {
    use super::{NewUser, validate};

    fn check(email: &str, name: &str) -> Result<(String, String), String> {
        validate(&NewUser {
            email: email.into(),
            name: name.into(),
        })
        .map_err(|e| e.message)
    }

    #[test]
    fn normalises_and_rejects() {
        assert_eq!(
            check(" Ada@Example.COM ", " Ada "),
            Ok(("ada@example.com".into(), "Ada".into()))
        );
        for bad in ["", "ada", "@x", "ada@", "a@b@c", "a b@c", "a\n@c"] {
            assert!(check(bad, "Ada").is_err(), "{bad:?}");
        }
        assert!(check("a@b", "  ").is_err());
        assert!(check("a@b", &"x".repeat(101)).is_err());
        assert!(check("a@b", &"é".repeat(100)).is_ok());
        assert!(check(&format!("a@{}", "b".repeat(254)), "x").is_err());
        assert!(check("a@b", "a\u{7}b").is_err());
    }
}
