//! A subscription receives, as JS objects, the rows a native client writes.

use std::cell::RefCell;
use std::rc::Rc;

use edgemetrics::wasm::MetricClient;
use edgemetrics_browser_tests::*;
use js_sys::{Array, Function};
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::wasm_bindgen_test;

#[wasm_bindgen_test]
async fn a_subscription_receives_rows_a_native_client_writes() {
    let _collector = collector().await;
    let collection = unique("live");
    let client = MetricClient::new(client_options("fetch", &[])).expect("options");
    let received: Rc<RefCell<Vec<JsValue>>> = Rc::default();
    let errors: Rc<RefCell<Vec<String>>> = Rc::default();
    let on_rows = {
        let received = received.clone();
        Closure::<dyn FnMut(JsValue)>::new(move |batch: JsValue| {
            assert_eq!(get(&batch, "collection").as_string().as_deref(), Some(&*collection_of(&batch)));
            // The native writer's default cluster id.
            assert_eq!(get(&batch, "clusterId").as_string().as_deref(), Some("native"));
            received.borrow_mut().extend(Array::from(&get(&batch, "rows")).iter());
        })
    };
    let on_error = {
        let errors = errors.clone();
        Closure::<dyn FnMut(JsValue)>::new(move |error: JsValue| {
            errors.borrow_mut().push(String::from(js_sys::Error::from(error).message()));
        })
    };
    let options: JsValue = js_sys::Object::new().into();
    set(&options, "collections", Array::of1(&collection.as_str().into()));
    set(&options, "onRows", on_rows.as_ref().unchecked_ref::<Function>().clone());
    set(&options, "onError", on_error.as_ref().unchecked_ref::<Function>().clone());
    let subscription = client.subscribe(options).expect("subscribe options");
    wait(subscription.ready()).await.expect("subscribed");

    let answer = control(&format!("/native-write?collection={collection}&rows=120")).await;
    assert!(answer.contains("wrote 120 rows"), "native writer: {answer}");
    let expected: Vec<_> = (0..120).map(sample).collect();
    for _ in 0..100 {
        if received.borrow().len() >= expected.len() {
            break;
        }
        sleep(50).await;
    }
    assert!(errors.borrow().is_empty(), "subscription errors: {:?}", errors.borrow());
    assert_rows_equal(&received.borrow(), &expected);
    subscription.close();
    wait(client.close()).await.expect("close");
}

/// The collection a batch says it is of.
fn collection_of(batch: &JsValue) -> String {
    get(batch, "collection").as_string().unwrap_or_default()
}

/// What a subscription told its callbacks, in order.
#[derive(Default)]
struct Heard {
    subscribed: usize,
    /// (kind, reconnecting, message) of each error.
    errors: Vec<(String, bool, String)>,
    rows: Vec<JsValue>,
    /// The `clusterId` of each batch of rows.
    clusters: Vec<String>,
}

/// Callbacks that record what they hear; kept alive by the caller.
struct Listeners {
    on_rows: Closure<dyn FnMut(JsValue)>,
    on_subscribed: Closure<dyn FnMut()>,
    on_error: Closure<dyn FnMut(JsValue)>,
}

fn listen() -> (Rc<RefCell<Heard>>, Listeners) {
    let heard: Rc<RefCell<Heard>> = Rc::default();
    let (a, b, c) = (heard.clone(), heard.clone(), heard.clone());
    let listeners = Listeners {
        on_rows: Closure::new(move |batch: JsValue| {
            let mut heard = a.borrow_mut();
            heard.rows.extend(Array::from(&get(&batch, "rows")).iter());
            heard.clusters.push(get(&batch, "clusterId").as_string().unwrap_or_default());
        }),
        on_subscribed: Closure::new(move || b.borrow_mut().subscribed += 1),
        on_error: Closure::new(move |error: JsValue| c.borrow_mut().errors.push(error_parts(&error))),
    };
    (heard, listeners)
}

fn subscribe_options(collection: &str, listeners: &Listeners) -> JsValue {
    let options: JsValue = js_sys::Object::new().into();
    set(&options, "collections", Array::of1(&collection.into()));
    set(&options, "onRows", listeners.on_rows.as_ref().unchecked_ref::<Function>().clone());
    set(&options, "onSubscribed", listeners.on_subscribed.as_ref().unchecked_ref::<Function>().clone());
    set(&options, "onError", listeners.on_error.as_ref().unchecked_ref::<Function>().clone());
    options
}

/// (kind, reconnecting, message) of a `SubscriptionError`.
fn error_parts(error: &JsValue) -> (String, bool, String) {
    assert_eq!(get(error, "name").as_string().as_deref(), Some("SubscriptionError"));
    let kind = get(error, "kind").as_string().unwrap_or_default();
    let reconnecting = get(error, "reconnecting").as_bool().expect("reconnecting is a boolean");
    (kind, reconnecting, String::from(js_sys::Error::from(error.clone()).message()))
}

async fn until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..200 {
        if done() {
            return;
        }
        sleep(50).await;
    }
    panic!("waited 10 s for {what}");
}

#[wasm_bindgen_test]
async fn a_refused_subscription_says_so_and_does_not_reconnect() {
    let _collector = collector().await;
    let client = MetricClient::new(client_options("fetch", &[("apiToken", "not-the-token".into())])).expect("options");
    let (heard, listeners) = listen();
    let subscription = client.subscribe(subscribe_options(&unique("refused"), &listeners)).expect("options");
    let rejection = wait(subscription.ready()).await.expect_err("a wrong token is refused");
    let (kind, reconnecting, message) = error_parts(&rejection);
    assert_eq!((kind.as_str(), reconnecting), ("refused", false), "{message}");
    assert!(message.contains("refused by the collector"), "{message}");
    // Long enough for two reconnects at the first backoff, were there any.
    sleep(1_200).await;
    let heard = heard.borrow();
    assert_eq!(heard.subscribed, 0);
    let kinds: Vec<_> = heard.errors.iter().map(|(kind, reconnecting, _)| (kind.as_str(), *reconnecting)).collect();
    assert_eq!(kinds, [("refused", false)], "{:?}", heard.errors);
    subscription.close();
    wait(client.close()).await.expect("close");
}

#[wasm_bindgen_test]
async fn a_subscription_reconnects_after_the_collector_restarts_and_says_when() {
    let _collector = collector_exclusive().await;
    let collection = unique("resubscribed");
    let client = MetricClient::new(client_options("fetch", &[])).expect("options");
    let (heard, listeners) = listen();
    let subscription = client.subscribe(subscribe_options(&collection, &listeners)).expect("options");
    wait(subscription.ready()).await.expect("subscribed");
    assert_eq!(heard.borrow().subscribed, 1);

    control("/stop").await;
    until("the drop to be reported", || !heard.borrow().errors.is_empty()).await;
    control("/start").await;
    until("the second confirmation", || heard.borrow().subscribed == 2).await;
    {
        let heard = heard.borrow();
        assert!(!heard.errors.is_empty());
        for (kind, reconnecting, message) in &heard.errors {
            assert_eq!((kind.as_str(), *reconnecting), ("disconnected", true), "{message}");
            assert!(message.contains("reconnecting in"), "{message}");
        }
    }

    let answer = control(&format!("/native-write?collection={collection}&rows=40")).await;
    assert!(answer.contains("wrote 40 rows"), "native writer: {answer}");
    until("the rows written after the restart", || heard.borrow().rows.len() >= 40).await;
    let expected: Vec<_> = (0..40).map(sample).collect();
    assert_rows_equal(&heard.borrow().rows, &expected);

    subscription.close();
    let closed = wait(subscription.ready()).await;
    assert!(closed.is_ok(), "ready stays resolved once subscribed");
    wait(client.close()).await.expect("close");
}

#[wasm_bindgen_test]
async fn a_subscription_to_some_clusters_receives_only_their_rows() {
    let _collector = collector().await;
    let collection = unique("from_east");
    let client = MetricClient::new(client_options("fetch", &[])).expect("options");
    let (heard, listeners) = listen();
    let options = subscribe_options(&collection, &listeners);
    set(&options, "clusters", Array::of1(&"east".into()));
    let subscription = client.subscribe(options).expect("options");
    wait(subscription.ready()).await.expect("subscribed");

    // West writes first: had its rows got through, they would come first.
    for (cluster, rows) in [("west", 10), ("east", 20)] {
        let answer = control(&format!("/native-write?collection={collection}&rows={rows}&cluster={cluster}")).await;
        assert!(answer.contains(&format!("wrote {rows} rows")), "native writer: {answer}");
    }
    until("the rows east wrote", || heard.borrow().rows.len() >= 20).await;
    let expected: Vec<_> = (0..20).map(sample).collect();
    assert_rows_equal(&heard.borrow().rows, &expected);
    assert!(heard.borrow().clusters.iter().all(|cluster| cluster == "east"), "{:?}", heard.borrow().clusters);
    subscription.close();

    let bad = subscribe_options(&collection, &listeners);
    set(&bad, "clusters", Array::of1(&"no spaces".into()));
    let error = client.subscribe(bad).err().expect("a bad cluster id is refused");
    assert_eq!(get(&error, "option").as_string().as_deref(), Some("clusters"));
    wait(client.close()).await.expect("close");
}
