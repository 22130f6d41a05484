//! `/Bulk` (RFC 7644 §3.7): the request, the schedule and the response are
//! `scimgate_scim::bulk`; this runs each operation through the SCIM service.

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use scimgate_domain::DomainError;
use scimgate_domain::scim_service::ReadBack;
use scimgate_scim::ScimError;
use scimgate_scim::bulk::{BulkMethod, BulkOperation, BulkOutcome, BulkRequest, BulkRun};

use crate::http::auth::ScimCaller;
use crate::http::body::ScimBody;
use crate::http::error::ScimApiError;
use crate::http::scim::{BULK_MAX_OPERATIONS, base_url, scim_json};
use crate::state::AppState;

/// POST /Bulk.
pub async fn bulk(
    axum::extract::State(st): axum::extract::State<AppState>,
    caller: ScimCaller,
    headers: HeaderMap,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimApiError> {
    let request = BulkRequest::parse(&body, BULK_MAX_OPERATIONS)?;
    let base = base_url(&st.config, &headers, caller.account().as_str());
    let mut run = BulkRun::new(request);
    while let Some(op) = run.next_operation() {
        let outcome = execute(&st, &caller, &base, &op, &run).await;
        run.record(&op, outcome);
    }
    Ok(scim_json(StatusCode::OK, &run.into_response()))
}

/// One operation. Each is authorized on its own by the service: a Bulk request is no way
/// around a missing permission, and the failing operation reports the 403 in its own status.
async fn execute(
    st: &AppState,
    caller: &ScimCaller,
    base: &str,
    op: &BulkOperation,
    run: &BulkRun,
) -> Result<BulkOutcome, ScimError> {
    let target = op.target(run.resolved())?;
    let kind = target.kind;
    let map = |e: DomainError| -> ScimError { ScimApiError::from(e).0 };
    let location = |id: &str| Some(format!("{base}/{}/{id}", kind.endpoint()));
    match (op.method, target.id) {
        (BulkMethod::Post, None) => {
            let r = st.scim.create(caller, kind, &op.data(run.resolved())?).await.map_err(map)?;
            Ok(BulkOutcome {
                status: 201,
                location: location(&r.id),
                version: Some(r.version),
                created_id: Some(r.id),
            })
        }
        (BulkMethod::Put, Some(id)) => {
            let r = st
                .scim
                .replace(caller, kind, &id, &op.data(run.resolved())?, op.version)
                .await
                .map_err(map)?;
            Ok(BulkOutcome {
                status: 200,
                location: location(&id),
                version: Some(r.version),
                created_id: None,
            })
        }
        (BulkMethod::Patch, Some(id)) => {
            let data = op.data(run.resolved())?;
            let o =
                st.scim.patch(caller, kind, &id, &data, op.version, ReadBack::Nothing).await.map_err(map)?;
            Ok(BulkOutcome {
                status: 200,
                location: location(&id),
                version: Some(o.version),
                created_id: None,
            })
        }
        (BulkMethod::Delete, Some(id)) => {
            st.scim.delete(caller, kind, &id, op.version).await.map_err(map)?;
            Ok(BulkOutcome { status: 204, location: location(&id), version: None, created_id: None })
        }
        _ => Err(op.misfit()),
    }
}
