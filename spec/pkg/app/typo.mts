// Must not compile: Dense's parameters are `kernel` and `bias`, so `kernal` is a type error
// (and not an `undefined` at run time).
import * as fx from 'flaxen';

await fx.ready();
const net = fx.nn.Sequential([fx.nn.Dense(8), fx.nn.relu, fx.nn.Dense(3)]);
const variables = net.init(fx.random.key(0), [2, 5]);
console.log(variables.params.layers_0.kernal.shape);
