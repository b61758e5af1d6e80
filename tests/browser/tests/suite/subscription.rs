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
