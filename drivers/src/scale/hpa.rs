//! HorizontalPodAutoscalers on lpa's workload. An HPA and lpa on one
//! workload scale over each other: each reads the other's scale as an
//! outside change, and the replicas follow whichever wrote last. So `lpa
//! run` does not start on a workload an HPA targets (KEDA likewise refuses
//! a ScaledObject whose target an HPA already manages), and a scale
//! refused because the count changed names the HPA that targets the
//! workload by then.
//!
//! ```text
//!   kubectl get --raw /apis/autoscaling/v2/namespaces/NS/horizontalpodautoscalers
//!     └─► items whose spec.scaleTargetRef is the workload (group apps, kind, name)
//! ```
//!
//! One request, without kubectl's discovery; RBAC sees `list` on
//! `autoscaling` `horizontalpodautoscalers`. The check is advisory: a list
//! that RBAC forbids, or a cluster without `autoscaling/v2`, is a reason
//! to skip it, never to stop a loop that worked before.

use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::List;

use super::kubectl::{answered_with, collection_path, Kubectl, Workload};
use super::DriverError;

/// What the namespace's HPAs say of the workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// No HPA targets it.
    Clear,
    /// These HPAs (`namespace/name`, sorted) target it.
    Taken(Vec<String>),
    /// The list could not be read: why, in a few words.
    Skipped(String),
}

/// Lists the HPAs of `namespace` and says which target `workload`.
pub fn check(kubectl: &Kubectl, namespace: &str, workload: &Workload) -> Check {
    match targeting(kubectl, namespace, workload) {
        Ok(Some(names)) if names.is_empty() => Check::Clear,
        Ok(Some(names)) => Check::Taken(names),
        Ok(None) => Check::Skipped("the API server has no autoscaling/v2 API".to_string()),
        Err(e) if answered_with(&e, "Forbidden") => Check::Skipped(format!(
            "listing them in {namespace} is forbidden (RBAC: list on horizontalpodautoscalers in autoscaling)"
        )),
        Err(e) => Check::Skipped(e.to_string()),
    }
}

/// The HPAs of `namespace` (`namespace/name`, sorted) whose
/// `scaleTargetRef` is `workload`; `None` when the API server has no
/// `autoscaling/v2` (404 NotFound).
pub fn targeting(
    kubectl: &Kubectl,
    namespace: &str,
    workload: &Workload,
) -> Result<Option<Vec<String>>, DriverError> {
    let path = collection_path::<HorizontalPodAutoscaler>(namespace);
    let Some(list) =
        kubectl.get_raw::<List<HorizontalPodAutoscaler>>(&path, "a HorizontalPodAutoscalerList")?
    else {
        return Ok(None);
    };
    let mut names: Vec<String> = list
        .items
        .iter()
        .filter(|hpa| targets(hpa, workload))
        .map(|hpa| {
            format!(
                "{}/{}",
                hpa.metadata.namespace.as_deref().unwrap_or(namespace),
                hpa.metadata.name.as_deref().unwrap_or("")
            )
        })
        .collect();
    names.sort();
    Ok(Some(names))
}

/// Whether `hpa` scales `workload`, as the HPA controller resolves its
/// `scaleTargetRef`: the group of its apiVersion (any version: the
/// controller tries each the group serves) and its kind, both exactly as
/// written (a REST mapping is case-sensitive), and the name.
fn targets(hpa: &HorizontalPodAutoscaler, workload: &Workload) -> bool {
    let target = &hpa.spec.scale_target_ref;
    let group = target
        .api_version
        .as_deref()
        .and_then(|v| v.split_once('/'))
        .map(|(group, _)| group);
    group == Some("apps") && target.kind == workload.kind.title() && target.name == workload.name
}

/// `the HorizontalPodAutoscaler default/web`, or the plural for several.
pub fn named(hpas: &[String]) -> String {
    match hpas {
        [one] => format!("the HorizontalPodAutoscaler {one}"),
        many => format!("the HorizontalPodAutoscalers {}", many.join(", ")),
    }
}

/// The error that stops `lpa run` on a workload the HPAs `hpas` (of one
/// namespace, as [`targeting`] finds them) target: who, and the two ways
/// out.
pub fn conflict(workload: &Workload, hpas: &[String]) -> String {
    let namespace = hpas
        .first()
        .and_then(|h| h.split_once('/'))
        .map(|(ns, _)| ns);
    let names: Vec<&str> = hpas
        .iter()
        .filter_map(|h| h.split_once('/').map(|(_, name)| name))
        .collect();
    format!(
        "{workload} is scaled by {} too, and two autoscalers on one workload scale over each other: delete {} (kubectl delete hpa {} -n {}), or scale {} with one of them only",
        named(hpas),
        if hpas.len() == 1 { "the HPA" } else { "the HPAs" },
        names.join(" "),
        namespace.unwrap_or("NAMESPACE"),
        workload.reference()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hpa(api_version: Option<&str>, kind: &str, name: &str) -> HorizontalPodAutoscaler {
        let mut spec =
            serde_json::json!({"scaleTargetRef": {"kind": kind, "name": name}, "maxReplicas": 5});
        if let Some(v) = api_version {
            spec["scaleTargetRef"]["apiVersion"] = v.into();
        }
        serde_json::from_value(serde_json::json!({"metadata": {"name": "h"}, "spec": spec}))
            .unwrap()
    }

    #[test]
    fn a_target_is_the_group_kind_and_name_as_the_controller_reads_them() {
        let web = Workload::parse("deploy/web", Some("default")).unwrap();
        assert!(targets(&hpa(Some("apps/v1"), "Deployment", "web"), &web));
        // Another version of the group: the controller maps it too.
        assert!(targets(
            &hpa(Some("apps/v1beta2"), "Deployment", "web"),
            &web
        ));
        for other in [
            hpa(Some("apps/v1"), "Deployment", "api"),
            hpa(Some("apps/v1"), "StatefulSet", "web"),
            // Kinds are case-sensitive: no REST mapping for this one.
            hpa(Some("apps/v1"), "deployment", "web"),
            // Deployments are served in apps only (extensions went in 1.16).
            hpa(Some("extensions/v1beta1"), "Deployment", "web"),
            hpa(Some("v1"), "Deployment", "web"),
            hpa(None, "Deployment", "web"),
        ] {
            assert!(!targets(&other, &web), "{:?}", other.spec.scale_target_ref);
        }
        let sts = Workload::parse("sts/web", None).unwrap();
        assert!(targets(&hpa(Some("apps/v1"), "StatefulSet", "web"), &sts));
        assert!(!targets(
            &serde_json::from_value(serde_json::json!({"metadata": {"name": "h"}})).unwrap(),
            &sts
        ));
    }

    #[test]
    fn the_conflict_names_the_hpas_the_target_and_the_ways_out() {
        let web = Workload::parse("deployment/web", Some("shop")).unwrap();
        assert_eq!(
            conflict(&web, &["shop/web".into()]),
            "deployment/web -n shop is scaled by the HorizontalPodAutoscaler shop/web too, and two autoscalers on one workload scale over each other: delete the HPA (kubectl delete hpa web -n shop), or scale deployment/web with one of them only"
        );
        assert_eq!(
            named(&["shop/a".into(), "shop/b".into()]),
            "the HorizontalPodAutoscalers shop/a, shop/b"
        );
    }
}
